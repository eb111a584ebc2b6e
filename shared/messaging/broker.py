"""A RabbitBroker configured so it cannot silently lose messages (MESSAGING-FACTS.md)."""

from __future__ import annotations

import logging
from typing import Any

from faststream.rabbit import Channel, RabbitBroker

from shared.messaging.failover import failover_connection_class, split_urls
from shared.settings import ServiceSettings


def safe_channel(prefetch: int) -> Channel:
    """Publisher confirms on, returns raise, bounded prefetch: every channel we open is this."""
    return Channel(prefetch_count=prefetch, publisher_confirms=True, on_return_raises=True)


def make_broker(settings: ServiceSettings) -> RabbitBroker:
    """No FastStream Prometheus middleware: our consumer and relay count what they handle and
    publish (shared.metrics), and the middleware's per-message histograms and context cost
    more CPU per message than the handling it measured (docs/adr/0053).

    ``CARE_AMQP_URL`` may list several nodes (comma-separated): the connection then fails
    over between them (shared.messaging.failover, docs/adr/0073-broker-cluster.md)."""
    urls = split_urls(settings.amqp_url)
    broker = RabbitBroker(
        urls[0],
        default_channel=safe_channel(settings.prefetch),
        graceful_timeout=settings.graceful_timeout_seconds,
        app_id=f"care-{settings.service}",
        logger=logging.getLogger("faststream"),
        log_level=logging.DEBUG,
        description=f"CARE badges {settings.service} service",
        # No dependency injection per delivery: resolving the consumer's one ``RabbitMessage``
        # parameter ran a synchronous resolver in a worker thread for every message (a
        # thread hop each, seen in every service's profile). The consumer's decoder hands it
        # the message instead (shared.messaging.consumer._the_message).
        apply_types=False,
    )
    if len(urls) > 1:
        # No public way to choose aio-pika's connection class through faststream 0.7: its
        # connection keyword arguments are handed to aio_pika.connect_robust as they are.
        broker._connection_kwargs["connection_class"] = failover_connection_class(urls)
    return broker


def publish_options(row: Any) -> dict[str, Any]:
    """AMQP properties for one outbox row: persistent, mandatory, ids for tracing."""
    return {
        "persist": True,
        "mandatory": True,
        "message_id": str(row.event_id),
        "correlation_id": row.correlation_id,
        "content_type": "application/json",
        "message_type": row.event_type,
        "headers": _headers(row),
    }


def _headers(row: Any) -> dict[str, str]:
    """The event type, and the emitting span's W3C ``traceparent`` when it was in a trace."""
    traceparent = getattr(row, "traceparent", None)
    if traceparent:
        return {"event-type": row.event_type, "traceparent": traceparent}
    return {"event-type": row.event_type}
