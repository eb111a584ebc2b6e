"""Shipments: their references and how the courier's reports move their status.

Reports can arrive late and out of order (a failed attempt reported after the delivery), so
delivered and returned are final: a later report is kept on record but changes nothing.
"""

from __future__ import annotations

import secrets
from enum import StrEnum


class ShipmentStatus(StrEnum):
    HANDED_OVER = "handed_over"
    DELIVERED = "delivered"
    FAILED_ATTEMPT = "failed_attempt"
    RETURNED = "returned"


#: What the courier may report back; handed_over is ours to set.
REPORTABLE = frozenset(
    {ShipmentStatus.DELIVERED, ShipmentStatus.FAILED_ATTEMPT, ShipmentStatus.RETURNED}
)
FINAL = frozenset({ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED})


def next_status(current: ShipmentStatus, reported: ShipmentStatus) -> ShipmentStatus:
    """The shipment's status once ``reported`` is taken into account."""
    if reported not in REPORTABLE:
        raise ValueError(f"the courier cannot report {reported}")
    return current if current in FINAL else reported


# Crockford's alphabet: no I, L, O or U, so a reference read over the phone is unambiguous.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_reference() -> str:
    """A random shipment reference such as ``SH-7KQ29XWM`` (40 bits: collisions negligible)."""
    return "SH-" + "".join(secrets.choice(_ALPHABET) for _ in range(8))
