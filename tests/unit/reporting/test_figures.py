"""Reporting's figures: what each event adds, and small numbers suppressed."""

import uuid
from datetime import UTC, datetime

from services.reporting.domain.figures import contributions, suppress
from shared.events import OrderDispatched, OrderVerified, PortalClosed
from tests.support.events import order_placed


def test_an_order_placed_counts_the_order_and_its_badges() -> None:
    assert contributions(order_placed(quantity=17)) == [("orders_placed", 1), ("badges_placed", 17)]


def test_dispatch_counts_orders_badges_and_parcels() -> None:
    event = OrderDispatched(
        order_id=uuid.uuid4(), shipment_reference="SH-1", parcel_count=2, quantity=250
    )
    assert contributions(event) == [
        ("orders_dispatched", 1),
        ("badges_dispatched", 250),
        ("parcels", 2),
    ]


def test_events_without_figures_add_nothing() -> None:
    assert contributions(PortalClosed(closed_at=datetime.now(UTC))) == []
    assert contributions(OrderVerified(order_id=uuid.uuid4(), decided_by="x")) == [
        ("orders_verified", 1)
    ]


def test_counts_under_the_threshold_are_suppressed_but_zero_and_larger_are_shown() -> None:
    assert [suppress(v, 5) for v in (0, 1, 4, 5, 900)] == [0, "suppressed", "suppressed", 5, 900]
