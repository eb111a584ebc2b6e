"""What dispatch does, whoever asks: its event handlers, its allocator, its API and its CLI.

Each use case runs in the caller's session, its unit of work: the consumer's transaction
after the inbox claim, the route's, the command line's, the allocator's batch. So the state
change and the events it causes commit together. It takes locks in the order
:mod:`services.dispatch.store` sets out, and raises a refusal (:mod:`shared.usecases`) when a
rule stops the request. A refusal that must itself be kept (a courier report that matches no
shipment, an address change that came too late) is returned as an outcome instead: raised,
it would roll back the caller's transaction and lose the record.

- ``fulfilment``: carrying out an order's transitions, serving the waitlist;
- ``placements``: recording placements and deciding them in placement order (the allocator);
- ``orders``: an order verified, rejected or cancelled;
- ``addresses``: customer services changing where an order goes;
- ``privacy``: an account anonymised, restricted, its restriction lifted;
- ``stock``: stock received, a stock-take's correction, the stock report;
- ``courier``: the courier's reports on shipments;
- ``shipments``: the back office's views of shipments and reports;
- ``closure``: the courier data deadline after the portal closes.

A family that emits events or reads dispatch's settings is a class built on the Service; one
that only reads and writes through the session is a set of functions.
"""

from __future__ import annotations

from services.dispatch.settings import DispatchSettings
from shared.events import (
    CourierHandoff,
    DeliveryAddressChangeRefused,
    EventPayload,
    OrderDelivered,
    OrderDispatched,
    ParcelReturned,
    StockReceived,
    StockReleased,
    StockReserved,
    StockWaitlisted,
    SubjectDataProvided,
)
from shared.runtime import Service

#: Every event dispatch publishes; a service that runs its use cases declares them all.
EMITS: tuple[type[EventPayload], ...] = (
    StockReceived,
    StockReserved,
    StockWaitlisted,
    StockReleased,
    OrderDispatched,
    OrderDelivered,
    ParcelReturned,
    DeliveryAddressChangeRefused,
    CourierHandoff,
    SubjectDataProvided,
)


def settings_of(service: Service) -> DispatchSettings:
    """The service's settings, refused unless it was built as dispatch."""
    if not isinstance(service.settings, DispatchSettings):
        raise TypeError("dispatch's use cases need a service built with DispatchSettings")
    return service.settings
