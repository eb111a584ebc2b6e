"""How reviewers slice the queue and find an order for a caller on the phone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from services.verification.domain.postcodes import PostcodeVerdict, classify


class SizeBand(StrEnum):
    """Order sizes as reviewers think of them; 25 is where the address and phone check starts."""

    UP_TO_25 = "up-to-25"
    FROM_26_TO_100 = "26-to-100"
    OVER_100 = "over-100"

    @property
    def bounds(self) -> tuple[int, int | None]:
        return {
            SizeBand.UP_TO_25: (1, 25),
            SizeBand.FROM_26_TO_100: (26, 100),
            SizeBand.OVER_100: (101, None),
        }[self]


@dataclass(frozen=True)
class QueueFilter:
    reason: str | None = None
    kind: str | None = None
    size: SizeBand | None = None


class SearchKind(StrEnum):
    REFERENCE = "reference"
    EMAIL = "email"
    POSTCODE = "postcode"


_REFERENCE = re.compile(r"^CB[- ]?[A-Z0-9][A-Z0-9 -]{3,14}$", re.IGNORECASE)


class UnsearchableQuery(ValueError):
    """The text is none of a reference, an email address or a postcode."""


def search_kind(query: str) -> SearchKind:
    """What the reviewer typed: an order reference, an email address or a postcode."""
    text = query.strip()
    if _REFERENCE.match(text):
        return SearchKind.REFERENCE
    if "@" in text:
        return SearchKind.EMAIL
    if classify(text).verdict is not PostcodeVerdict.INVALID:
        return SearchKind.POSTCODE
    raise UnsearchableQuery(
        "Enter an order reference (like CB-7KQ2-9XWM), an email address or a full postcode"
    )


def reference_key(reference: str) -> str:
    """A reference as typed or read over the phone, without case, dashes or spaces."""
    return re.sub(r"[^A-Z0-9]", "", reference.upper())
