"""Turns a plain handler into a consumer that keeps the platform's delivery guarantees.

For each delivery: validate the envelope; in one transaction, claim the event in the inbox and
run the handler; ack only after the commit. Deliveries waiting at the same moment share that
transaction (:mod:`shared.messaging.group_commit`); one that fails there runs again alone.
A message that can never be valid is parked in its dead-letter queue at once with the reason
in its headers. A handler that fails is retried with
a growing pause, and on its last allowed delivery is parked with the exception as the reason;
the queue's own delivery limit remains the backstop if the process dies every time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from faststream import AckPolicy
from faststream.rabbit import RabbitBroker
from faststream.rabbit.annotations import RabbitMessage
from pydantic import ValidationError
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from shared import tracing
from shared.events import Envelope, EventPayload
from shared.events.envelope import UnknownEventVersion, parse_as
from shared.logging import get_logger, info_line, log_context
from shared.messaging.acks import Acknowledgements
from shared.messaging.broker import safe_channel
from shared.messaging.group_commit import GroupCommit, SharedTransactionFailed
from shared.messaging.topology import DEAD_LETTER_EXCHANGE, DELIVERY_LIMIT, EXCHANGES, Subscription
from shared.metrics import (
    DEAD_LETTERED,
    INBOX_DUPLICATES,
    MESSAGE_HANDLING,
    MESSAGES_CONSUMED,
    Labelled,
)
from shared.store.db import Database
from shared.store.errors import is_transient

log = get_logger(__name__)

Handler = Callable[[AsyncSession, Envelope[Any]], Awaitable[None]]


def delivery_attempt(message: RabbitMessage) -> int:
    """1 for the first delivery; quorum queues count redeliveries in ``x-delivery-count``."""
    count: Any = (message.raw_message.headers or {}).get("x-delivery-count") or 0
    return int(count) + 1


class Consumers:
    """Registers a service's handlers as FastStream subscribers on its topology queues."""

    def __init__(
        self,
        service: str,
        broker: RabbitBroker,
        db: Database,
        inbox_table: Table,
        prefetch: int,
        concurrency: int | None = None,
        batch: int = 50,
        linger: float = 0.0,
    ) -> None:
        self.service = service
        self._broker = broker
        self._prefetch = prefetch
        # Every subscription may hold ``prefetch`` deliveries: each handled in a transaction of
        # its own, a backlog took every pooled connection and left the HTTP requests of the
        # same process waiting for one until they failed (measured at launch load: sign-ins
        # and orders answered 500 after the pool's 30 s timeout). At most ``concurrency``
        # transactions are open at once (one by default, shared/settings.py); the deliveries
        # waiting meanwhile hold no connection and share the next transaction.
        self.group = GroupCommit(
            service,
            db,
            inbox_table,
            workers=concurrency or 8,
            max_batch=batch,
            linger=linger,
        )
        self.subscriptions: list[Subscription] = []
        #: Acknowledgements, combined per channel where safe (shared.messaging.acks).
        self._acks = Acknowledgements()
        # The metrics' children, each looked up once (ADR 0053).
        self._counted = Labelled(MESSAGES_CONSUMED, service)  # event type, outcome
        self._timed = Labelled(MESSAGE_HANDLING, service)  # event type
        self._duplicates = Labelled(INBOX_DUPLICATES, service)  # event type
        #: Each queue's handler, for tests that drive a handler inside a transaction they hold.
        self.handlers: dict[str, Handler] = {}
        #: How long a passing database fault is ridden out before the delivery counts.
        self.transient_retry_seconds = 120.0

    def handles(self, event: type[EventPayload]) -> Callable[[Handler], Handler]:
        """Decorator: run the handler for every ``event`` delivered to this service."""

        def register(handler: Handler) -> Handler:
            sub = Subscription(self.service, event)
            self.subscriptions.append(sub)
            self.handlers[sub.queue_name] = handler
            self._broker.subscriber(
                sub.queue(),
                sub.exchange,
                ack_policy=AckPolicy.MANUAL,
                channel=safe_channel(self._prefetch),
                decoder=_the_message,
                title=sub.queue_name,
                description=(handler.__doc__ or "").strip() or None,
            )(self._consumer(sub, handler))
            return handler

        return register

    def _consumer(
        self, sub: Subscription, handler: Handler
    ) -> Callable[[RabbitMessage], Awaitable[None]]:
        event_type = sub.event.TYPE
        process = f"{sub.queue_name} process"
        service = self.service
        # Once per subscriber rather than per message (ADR 0053): whether the payload has an
        # order id (``getattr`` on a pydantic model without the field raises and catches an
        # AttributeError every time).
        carries_order = "order_id" in sub.event.model_fields

        async def consume(message: RabbitMessage) -> None:
            started = time.perf_counter()
            raw = message.raw_message
            # The consumer span continues the emitting span's trace (traceparent header).
            with tracing.span(
                process,
                kind=tracing.SpanKind.CONSUMER,
                parent=tracing.context_from_traceparent((raw.headers or {}).get("traceparent")),
            ) as span:
                trace_id = tracing.trace_id_of(span)
                try:
                    envelope = parse_as(message.body, sub.event)
                except (ValueError, ValidationError) as exc:
                    # A version newer than this consumer reads is not broken: it waits in the
                    # dead-letter queue for the upgraded consumer (replayed by the operator).
                    kind = "unknown_version" if isinstance(exc, UnknownEventVersion) else "invalid"
                    self._counted(event_type, kind).inc()
                    reason = _describe(exc)
                    # Field names and the validator's words only, never the values.
                    log.warning(
                        "invalid message, parking it",
                        service=service,
                        queue=sub.queue_name,
                        message_id=raw.message_id,
                        correlation_id=raw.correlation_id,
                        trace_id=trace_id,
                        reason=kind,
                        error=reason,
                    )
                    await self.park(message, sub, kind, reason)
                    return
                payload: Any = envelope.payload
                order_id = payload.order_id if carries_order else None
                if span.is_recording():
                    span.set_attributes(_consumer_attributes(sub, envelope, service))
                with (
                    context := log_context(
                        service=service,
                        trace_id=trace_id,
                        correlation_id=envelope.correlation_id,
                        order_id=order_id,
                        event_type=event_type,
                        event_id=envelope.event_id,
                    )
                ):
                    outcome = await self._handle(message, sub, handler, envelope, context.fields)
                    elapsed = time.perf_counter() - started
                    if outcome is not None:  # failures logged their own line
                        info_line(
                            __name__, "event handled", outcome=outcome, ms=round(elapsed * 1000, 1)
                        )
            self._timed(event_type).observe(elapsed)

        consume.__name__ = f"consume_{sub.queue_name.replace('.', '_').replace('-', '_')}"
        return consume

    async def _handle(
        self,
        message: RabbitMessage,
        sub: Subscription,
        handler: Handler,
        envelope: Envelope[Any],
        log_fields: dict[str, Any] | None = None,
    ) -> str | None:
        """Handle, then ack; returns "ok" or "duplicate", or None when it failed."""
        event_type = sub.event.TYPE
        try:
            fresh = await self._run_in_transaction(sub, handler, envelope, log_fields)
        except Exception as exc:
            attempt = delivery_attempt(message)
            if attempt >= DELIVERY_LIMIT:
                self._counted(event_type, "dead_lettered").inc()
                log.error("handler failed, parking message", error=_describe(exc), attempt=attempt)
                await self.park(message, sub, "handler_failed", _describe(exc))
                return None
            self._counted(event_type, "retried").inc()
            log.warning("handler failed, will retry", error=_describe(exc), attempt=attempt)
            await asyncio.sleep(min(0.1 * 2**attempt, 3.0))
            await message.nack(requeue=True)
            self._acks.settled(message)
            return None
        outcome = "ok" if fresh else "duplicate"
        if not fresh:
            self._duplicates(event_type).inc()
        self._counted(event_type, outcome).inc()
        await self.acknowledge(message)
        return outcome

    async def _run_in_transaction(
        self,
        sub: Subscription,
        handler: Handler,
        envelope: Envelope[Any],
        log_fields: dict[str, Any] | None = None,
    ) -> bool:
        """Claim and handle in one transaction; ride out a passing database fault in place.

        Holding the delivery while the database recovers keeps the message's delivery count
        for real failures of the handler. Returns False for a duplicate.
        """
        deadline = asyncio.get_running_loop().time() + self.transient_retry_seconds
        pause = 0.05  # deadlocks clear at once; outages take longer: back off to 5 s
        alone = False
        while True:
            try:
                return await self.group.run(
                    sub.queue_name, handler, envelope, alone=alone, log_fields=log_fields
                )
            except SharedTransactionFailed:
                alone = True  # someone else's failure: not this delivery's, no pause
            except Exception as exc:
                if not is_transient(exc) or asyncio.get_running_loop().time() > deadline:
                    raise
                self._counted(sub.event.TYPE, "waited").inc()
                log.warning("database unavailable, retrying in place", error=_describe(exc))
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)

    async def close(self) -> None:
        """Stop handling; deliveries not yet committed stay unacknowledged and come again."""
        await self.group.close()

    async def acknowledge(self, message: RabbitMessage) -> None:
        """Ack after the commit; a crash before this line means a redelivery for the inbox.

        Deliveries of one channel that committed together go in one ``basic.ack`` where no
        delivery still in progress lies between them (shared.messaging.acks).
        """
        found = self._acks.of(message)
        if found is None:
            await message.ack()
            return
        acks, tag = found
        await acks.ack(message, tag)

    async def park(
        self, message: RabbitMessage, sub: Subscription, reason: str, detail: str
    ) -> None:
        """Copy the message to its dead-letter queue with why, confirmed, then ack it."""
        raw = message.raw_message
        headers = dict(raw.headers or {})
        headers.update(
            {
                "x-care-reason": reason,
                "x-care-detail": detail[:1000],
                "x-care-queue": sub.queue_name,
                "x-care-parked-at": datetime.now(UTC).isoformat(),
            }
        )
        try:
            await self._broker.publish(
                message.body,
                exchange=EXCHANGES[DEAD_LETTER_EXCHANGE],
                routing_key=sub.queue_name,
                persist=True,
                mandatory=True,
                headers=headers,
                message_id=raw.message_id,
                correlation_id=raw.correlation_id,
                content_type=raw.content_type,
            )
        except Exception:
            log.exception("could not park message; leaving it to the delivery limit")
            await message.nack(requeue=True)
            self._acks.settled(message)
            return
        DEAD_LETTERED.labels(self.service, sub.queue_name, reason).inc()
        await message.ack()
        self._acks.settled(message)


async def _the_message(message: RabbitMessage) -> RabbitMessage:
    """Hand the consumer the message itself, body undecoded.

    Our own validation parks what is malformed, whereas FastStream's JSON decoding would fail
    before the consumer could say why. And with the broker's dependency injection off
    (``apply_types=False`` in shared.messaging.broker) the decoded value is all the consumer
    gets, so it must be the message, whose headers, ack and nack the consumer needs.
    """
    return message


def _describe(exc: BaseException) -> str:
    """A reason fit for a header: the exception class and its first line, no payload echo."""
    if isinstance(exc, ValidationError):
        fields = ", ".join(
            ".".join(str(p) for p in err["loc"]) + f": {err['msg']}" for err in exc.errors()[:5]
        )
        return f"ValidationError: {fields}"
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}"[:500]


def _consumer_attributes(
    sub: Subscription, envelope: Envelope[Any], service: str
) -> dict[str, Any]:
    """Ids only on a span, as in the logs: no payload field that could be personal data."""
    attributes: dict[str, Any] = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "process",
        "messaging.destination.name": sub.queue_name,
        "messaging.message.id": str(envelope.event_id),
        "messaging.message.conversation_id": envelope.correlation_id,
        "care.service": service,
        "care.event_type": envelope.type,
    }
    order_id = getattr(envelope.payload, "order_id", None)
    if order_id is not None:
        attributes["care.order_id"] = str(order_id)
    return attributes
