"""An order's status and how events move it.

Events reach orders in any order and more than once; the status only ever moves forward
(a late "verified" cannot undo "dispatched"), and a final state is never left.
"""

from __future__ import annotations

import secrets
from enum import StrEnum

from shared.usecases import Invalid, NotAllowed


class Status(StrEnum):
    PLACED = "placed"
    WAITLISTED = "waitlisted"
    IN_REVIEW = "in_review"
    VERIFIED = "verified"
    DISPATCHED = "dispatched"
    DELIVERED = "delivered"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


_RANK = {
    Status.PLACED: 0,
    Status.WAITLISTED: 1,
    Status.IN_REVIEW: 2,
    Status.VERIFIED: 3,
    Status.DISPATCHED: 4,
    Status.DELIVERED: 5,
}
FINAL = frozenset({Status.DELIVERED, Status.REJECTED, Status.CANCELLED})
#: Not yet with the courier: the order can still be cancelled, its recipient changed, and a
#: top-up waits for it.
NOT_YET_SENT = frozenset({Status.PLACED, Status.WAITLISTED, Status.IN_REVIEW, Status.VERIFIED})


def advance(current: Status, incoming: Status) -> Status:
    """The status after ``incoming`` is seen, whatever order the events came in."""
    if current in (Status.REJECTED, Status.CANCELLED):
        return current
    if incoming in (Status.REJECTED, Status.CANCELLED):
        return current if current in (Status.DISPATCHED, Status.DELIVERED) else incoming
    return incoming if _RANK[incoming] > _RANK[current] else current


def moves_from(incoming: Status) -> frozenset[Status]:
    """The statuses ``incoming`` moves an order on from (from any other it stays where it
    is): what lets a store decide :func:`advance` on an order's latest version in the
    statement that records the step."""
    return _MOVES_FROM[incoming]


# ``advance`` answers the current status or the incoming one, so this set says it all.
_MOVES_FROM = {
    incoming: frozenset(s for s in Status if advance(s, incoming) != s) for incoming in Status
}


# Crockford's alphabet: no I, L, O or U, so a reference read over the phone is unambiguous.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_reference() -> str:
    """A short, random, unambiguous order reference such as ``CB-7KQ2-9XWM``."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"CB-{chars[:4]}-{chars[4:]}"


#: What every refusal of an order's own content is titled.
CANNOT_BE_PLACED = "This order cannot be placed"


class OrderRefused(Invalid):
    """The order breaks a rule; ``field`` names what the user must change."""

    def __init__(self, code: str, field: str, message: str) -> None:
        super().__init__(code, message, field=field, title=CANNOT_BE_PLACED)


class LocationNotAuthorised(NotAllowed):
    """The order names a location the account has not signed in for."""

    def __init__(self, location_id: str) -> None:
        super().__init__(
            "location-not-authorised",
            f"You have not signed in for location {location_id}: sign in with its ODS code first.",
            field="lines",
            title=CANNOT_BE_PLACED,
        )


def check_locations(requested: list[str], authorised: frozenset[str], deliver_to: str) -> None:
    """An order may only name locations the account signed in for, each once."""
    if len(set(requested)) != len(requested):
        raise OrderRefused("duplicate-location", "lines", "Each location can appear only once.")
    unauthorised = [loc for loc in requested if loc not in authorised]
    if unauthorised:
        raise LocationNotAuthorised(unauthorised[0])
    if deliver_to not in requested:
        raise OrderRefused(
            "delivery-location-not-in-order",
            "deliver_to_location_id",
            "Choose one of the locations in this order to deliver to.",
        )
