"""Events the tests publish straight onto the bus, as another service would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from shared.events import AccountKind, Delivery, OrderLine, OrderPlaced, OrderVerified

_seq = iter(range(1_000_000, 10_000_000))


def order_placed(quantity: int = 5, kind: AccountKind = AccountKind.NON_CQC) -> OrderPlaced:
    order_id = uuid.uuid4()
    return OrderPlaced(
        order_id=order_id,
        reference=f"CB-T{order_id.hex[:7].upper()}",
        account_id=uuid.uuid4(),
        account_kind=kind,
        placed_at=datetime.now(UTC),
        placement_seq=next(_seq),
        lines=[OrderLine(location_id=None, staff_count=quantity)],
        quantity=quantity,
        delivery=Delivery(
            recipient_name="Test Recipient",
            # Each its own organisation, so verification's same-organisation check (same
            # postcode and a similar name through another account) leaves them apart.
            organisation_name=f"Test Care {order_id.hex[:12]}",
            address_line_1="1 Test Street",
            city="Leeds",
            postcode="LS1 4AP",
        ),
    )


def verified(order: OrderPlaced, by: str = "automatic") -> OrderVerified:
    return OrderVerified(order_id=order.order_id, decided_by=by)
