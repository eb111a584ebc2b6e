"""What an order placed for CQC locations tells the rest of the platform: delivered to one
of its locations as the register describes it. Built the same way whether the register's
details were at hand when the order was placed or arrived just after (ADR 0061)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from shared.events import AccountKind, Delivery, OrderLine, OrderPlaced


def delivery_to_site(site: dict[str, Any], recipient_name: str, location_id: str) -> Delivery:
    """The parcel goes to the location's address on the register, for ``recipient_name``."""
    return Delivery(
        recipient_name=recipient_name,
        organisation_name=site["name"],
        address_line_1=site["address_line_1"],
        address_line_2=site.get("address_line_2", ""),
        city=site.get("city", ""),
        postcode=site["postcode"],
        location_id=location_id,
    )


def awaiting_delivery(recipient_name: str, location_id: str) -> dict[str, Any]:
    """What an order stores for its delivery until the location's details arrive."""
    return {"recipient_name": recipient_name, "location_id": location_id, "awaiting": True}


def order_placed(order: dict[str, Any], delivery: Delivery, site: dict[str, Any]) -> OrderPlaced:
    """OrderPlaced for a stored order (``repository.read_order``) once its delivery is known."""
    return OrderPlaced(
        order_id=UUID(str(order["id"])),
        reference=order["reference"],
        account_id=order["account_id"],
        account_kind=AccountKind(order["account_kind"]),
        placed_at=order["placed_at"],
        placement_seq=order["seq"],
        lines=[
            OrderLine(location_id=line["location_id"], staff_count=line["staff_count"])
            for line in order["lines"]
        ],
        quantity=order["quantity"],
        delivery=delivery,
        top_up=order["top_up"],
        region=site.get("region", ""),
        local_authority=site.get("local_authority", ""),
    )
