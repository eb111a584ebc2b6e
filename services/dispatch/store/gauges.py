"""Dispatch's business gauges for Prometheus: the stock and the waitlist, read from the database.

Every replica reads the same database, so every replica reports the same figures: dashboards
take ``max`` across instances, never ``sum``. Labels are the service name and the four stock
states only (bounded). The figures are refreshed every ``metrics_refresh_seconds`` by a chore
each replica runs (:func:`refresher`), so a scrape never waits on the database.
"""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import Gauge

from services.dispatch.domain.stock import LEAFLETS
from services.dispatch.store import ledger, placements
from shared.metrics import REGISTRY
from shared.periodic import Periodic
from shared.store.db import Database

STOCK_STATES = ("received", "reserved", "allocated", "available")

STOCK_UNITS = Gauge(
    "care_stock_units",
    "Badges by state in dispatch's stock ledger: received (incl. adjustments), reserved for "
    "orders, allocated (left with the courier), available (received - reserved - allocated).",
    ["service", "state"],
    registry=REGISTRY,
)
WAITLIST_ORDERS = Gauge(
    "care_waitlist_orders",
    "Orders waiting for stock, served first come first served by placement.",
    ["service"],
    registry=REGISTRY,
)
WAITLIST_BADGES = Gauge(
    "care_waitlist_badges",
    "Badges the waiting orders ask for between them.",
    ["service"],
    registry=REGISTRY,
)

LEAFLET_UNITS = Gauge(
    "care_leaflet_units",
    "Leaflets by item and state: received, packed (left in parcels), available (below zero "
    "means a leaflet delivery was not recorded).",
    ["service", "item", "state"],
    registry=REGISTRY,
)
PLACEMENTS_UNDECIDED = Gauge(
    "care_dispatch_placements_undecided",
    "Placements recorded but not yet reserved or waitlisted: pending (the allocator's "
    "backlog) or parked (its decision failed repeatedly: a bug to investigate).",
    ["service", "state"],
    registry=REGISTRY,
)


async def refresh(db: Database, service: str) -> None:
    """Read the balance and the waitlist once and set the gauges."""
    async with db.transaction() as session:
        balance = await ledger.read_stock(session)
        waiting = await placements.waitlist_size(session)
        undecided = await placements.undecided_count(session)
        leaflets = {item: await ledger.read_stock(session, item) for item in LEAFLETS}
    figures = {
        "received": balance.received,
        "reserved": balance.reserved,
        "allocated": balance.allocated,
        "available": balance.available,
    }
    for state in STOCK_STATES:
        STOCK_UNITS.labels(service, state).set(figures[state])
    WAITLIST_ORDERS.labels(service).set(waiting.orders)
    WAITLIST_BADGES.labels(service).set(waiting.badges)
    for item, count in leaflets.items():
        LEAFLET_UNITS.labels(service, item, "received").set(count.received)
        LEAFLET_UNITS.labels(service, item, "packed").set(count.allocated)
        LEAFLET_UNITS.labels(service, item, "available").set(count.available)
    PLACEMENTS_UNDECIDED.labels(service, "pending").set(undecided.pending)
    PLACEMENTS_UNDECIDED.labels(service, "parked").set(undecided.parked)


def refresher(db: Database, service: str, every: timedelta) -> Periodic:
    """The chore that keeps the gauges fresh, for ``service.attach``: a failed read is logged
    by :class:`Periodic`, and the gauges keep their last values until the next round."""

    return Periodic.keeping_fresh(f"{service}-business-gauges", every, lambda: refresh(db, service))
