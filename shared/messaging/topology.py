"""The whole RabbitMQ topology, declared in one place.

Every service declares all of it at start-up, before its first publish, so an event published
before its consumer has ever run is still routed to that consumer's queue (MESSAGING-FACTS.md:
publishers declaring only the exchange lose such events).

Shape: one durable topic exchange for domain events, the courier's own exchange, and for every
(consumer, event) subscription a durable quorum queue with a delivery limit and at-least-once
dead-lettering into its own dead-letter queue.
"""

from __future__ import annotations

from dataclasses import dataclass

from faststream.rabbit import ExchangeType, QueueType, RabbitBroker, RabbitExchange, RabbitQueue

from shared.events import (
    AccountAnonymised,
    AccountDetailsCorrected,
    AccountHoldApplied,
    AccountRegistered,
    AccountRestricted,
    AccountRestrictionLifted,
    CourierHandoff,
    DeliveryAddressChanged,
    DeliveryAddressChangeRefused,
    EventPayload,
    LocationsAuthorised,
    OrderCancelled,
    OrderDelivered,
    OrderDispatched,
    OrderPlaced,
    OrderReferred,
    OrderRejected,
    OrderVerified,
    ParcelReturned,
    PortalClosed,
    StockReceived,
    StockReleased,
    StockReserved,
    StockWaitlisted,
    SubjectAccessRequested,
    SubjectDataProvided,
)
from shared.events.envelope import COURIER_EXCHANGE, EVENTS_EXCHANGE
from shared.events.reporting import AccountRegisteredForReporting, OrderPlacedForReporting

DEAD_LETTER_EXCHANGE = "care.dead-letter"
#: Deliveries of one message before it is parked; redelivery after a crash counts too.
DELIVERY_LIMIT = 5

EXCHANGES: dict[str, RabbitExchange] = {
    EVENTS_EXCHANGE: RabbitExchange(EVENTS_EXCHANGE, type=ExchangeType.TOPIC, durable=True),
    COURIER_EXCHANGE: RabbitExchange(COURIER_EXCHANGE, type=ExchangeType.TOPIC, durable=True),
    DEAD_LETTER_EXCHANGE: RabbitExchange(
        DEAD_LETTER_EXCHANGE, type=ExchangeType.DIRECT, durable=True
    ),
}

#: Which events each consumer listens to. The courier integration is outside the platform but
#: its queue is declared here so a handoff is never unroutable.
SUBSCRIPTIONS: dict[str, tuple[type[EventPayload], ...]] = {
    "identity": (SubjectDataProvided, AccountHoldApplied),
    "orders": (
        LocationsAuthorised,
        AccountRegistered,
        AccountDetailsCorrected,
        OrderVerified,
        OrderReferred,
        OrderRejected,
        StockWaitlisted,
        OrderDispatched,
        OrderDelivered,
        DeliveryAddressChanged,
        AccountAnonymised,
        SubjectAccessRequested,
        AccountRestricted,
        AccountRestrictionLifted,
        PortalClosed,
    ),
    "verification": (
        AccountRegistered,
        LocationsAuthorised,
        OrderPlaced,
        OrderCancelled,
        AccountAnonymised,
        ParcelReturned,
        DeliveryAddressChangeRefused,
        SubjectAccessRequested,
        AccountDetailsCorrected,
    ),
    "dispatch": (
        OrderPlaced,
        OrderVerified,
        OrderRejected,
        OrderCancelled,
        DeliveryAddressChanged,
        AccountAnonymised,
        SubjectAccessRequested,
        AccountRestricted,
        AccountRestrictionLifted,
        PortalClosed,
    ),
    # Reporting's own feed and the later steps of an order: no event carrying personal data,
    # and nothing it would only use for one fact (ADR 0026).
    "reporting": (
        AccountRegisteredForReporting,
        OrderPlacedForReporting,
        OrderVerified,
        OrderReferred,
        OrderRejected,
        OrderCancelled,
        StockReceived,
        StockWaitlisted,
        StockReserved,
        StockReleased,
        OrderDispatched,
        OrderDelivered,
    ),
    "courier": (CourierHandoff,),
}


@dataclass(frozen=True)
class Subscription:
    """One consumer's queue for one event type."""

    consumer: str
    event: type[EventPayload]

    @property
    def queue_name(self) -> str:
        return f"{self.consumer}.{self.event.ROUTING_KEY}"

    @property
    def dead_letter_queue_name(self) -> str:
        return f"{self.queue_name}.dlq"

    @property
    def exchange(self) -> RabbitExchange:
        return EXCHANGES[self.event.EXCHANGE]

    def queue(self) -> RabbitQueue:
        return RabbitQueue(
            self.queue_name,
            queue_type=QueueType.QUORUM,
            durable=True,
            routing_key=self.event.ROUTING_KEY,
            arguments={
                "x-delivery-limit": DELIVERY_LIMIT,
                "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
                "x-dead-letter-routing-key": self.queue_name,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            },
        )

    def dead_letter_queue(self) -> RabbitQueue:
        return RabbitQueue(
            self.dead_letter_queue_name,
            queue_type=QueueType.QUORUM,
            durable=True,
            routing_key=self.queue_name,
        )


def subscriptions(consumer: str | None = None) -> list[Subscription]:
    """All subscriptions, or one consumer's."""
    return [
        Subscription(name, event)
        for name, events in SUBSCRIPTIONS.items()
        if consumer is None or name == consumer
        for event in events
    ]


#: Queues of subscriptions that were dropped: deleted at start-up, or they would go on filling
#: (and, once full, refuse the producers' publishes). Reporting's personal-data events, ADR 0026.
RETIRED: tuple[Subscription, ...] = tuple(
    Subscription("reporting", event)
    for event in (
        AccountRegistered,
        AccountAnonymised,
        AccountDetailsCorrected,
        AccountHoldApplied,
        AccountRestricted,
        AccountRestrictionLifted,
        DeliveryAddressChanged,
        DeliveryAddressChangeRefused,
        LocationsAuthorised,
        OrderPlaced,
        ParcelReturned,
        PortalClosed,
        SubjectAccessRequested,
        SubjectDataProvided,
    )
)


async def delete_retired(broker: RabbitBroker) -> None:
    """Delete the retired subscriptions' queues where they exist: no declaring them first (a
    quorum queue is costly to create), and deleting a queue that is not there is no error."""
    # FastStream exposes no channel of its own: one of the connection's, for a moment.
    connection = broker._connection
    if connection is None:
        return
    channel = await connection.channel()
    try:
        for old in RETIRED:
            for name in (old.queue_name, old.dead_letter_queue_name):
                await channel.queue_delete(name)
    finally:
        await channel.close()


async def declare_topology(broker: RabbitBroker) -> None:
    """Declare every exchange, queue, dead-letter queue and binding (idempotent), and delete
    the queues of retired subscriptions."""
    declared = {name: await broker.declare_exchange(ex) for name, ex in EXCHANGES.items()}
    await delete_retired(broker)
    for sub in subscriptions():
        queue = await broker.declare_queue(sub.queue())
        await queue.bind(declared[sub.event.EXCHANGE], routing_key=sub.event.ROUTING_KEY)
        dlq = await broker.declare_queue(sub.dead_letter_queue())
        await dlq.bind(declared[DEAD_LETTER_EXCHANGE], routing_key=sub.queue_name)
