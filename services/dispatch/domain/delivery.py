"""Where a parcel goes: what the courier is told, and what is kept after anonymisation.

The privacy policy lets us share name and address with the courier and nothing else, so the
handoff is built field by field from an allow-list rather than by copying the delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.events import CourierHandoff, Delivery, Parcel

#: Every field the courier receives (SECURITY.md: an exact allow-list for outgoing data).
COURIER_FIELDS = frozenset(
    {"shipment_reference", "recipient_name", "address", "postcode", "parcels"}
)

#: Stored in place of an anonymised order's delivery: says what happened, holds nothing personal.
SCRUBBED: dict[str, Any] = {"anonymised": True}


def is_scrubbed(delivery: dict[str, Any] | None) -> bool:
    return bool(delivery and delivery.get("anonymised"))


def address_lines(delivery: Delivery) -> list[str]:
    """The address as the courier prints it on a label: blank lines dropped."""
    lines = [
        delivery.organisation_name,
        delivery.address_line_1,
        delivery.address_line_2,
        delivery.city,
    ]
    return [line.strip() for line in lines if line.strip()]


def handoff(reference: str, delivery: Delivery, parcels: Sequence[Parcel]) -> CourierHandoff:
    """The courier's message for one shipment."""
    message = CourierHandoff(
        shipment_reference=reference,
        recipient_name=delivery.recipient_name,
        address=address_lines(delivery),
        postcode=delivery.postcode,
        parcels=list(parcels),
    )
    sent = set(message.model_dump())
    if sent != COURIER_FIELDS:
        raise ValueError(f"courier message fields {sorted(sent)} differ from the allow-list")
    return message
