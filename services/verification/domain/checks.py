"""The automatic checks, as pure functions over what verification knows.

Automation may verify an order or refer it to a person; it has no way to reject one. The
privacy policy promises that no decision about anyone is made solely by automated means, so
:class:`Outcome` simply has no rejection, and only a reviewer's decision (see ``decisions``)
can produce OrderRejected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    VERIFIED = "verified"
    REFERRED = "referred"
    #: The account's authorised locations have not reached us yet: decide when they do.
    WAIT = "wait"


@dataclass(frozen=True)
class LineFacts:
    location_id: str | None
    staff_count: int


@dataclass(frozen=True)
class LocationFacts:
    location_id: str
    provider_id: str
    care_home: bool
    care_home_beds: int | None


@dataclass(frozen=True)
class OrderFacts:
    account_kind: str
    quantity: int
    lines: Sequence[LineFacts]
    delivery_postcode: str


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Policy:
    max_badges_per_bed: float
    manual_check_threshold: int


def evaluate(
    order: OrderFacts,
    authorised: Mapping[str, LocationFacts] | None,
    locations_already_ordered: set[str],
    policy: Policy,
) -> Decision:
    """Verify a CQC order that passes every check; refer anything else, saying why."""
    reasons: list[str] = []
    postcode_reason = border_reason(order.delivery_postcode)
    if postcode_reason:
        reasons.append(postcode_reason)
    if order.account_kind != "cqc":
        reasons.append(
            "The organisation is not registered with CQC, so a person checks that it provides "
            "adult social care in England."
        )
        if order.quantity > policy.manual_check_threshold:
            reasons.append(
                f"The order is for more than {policy.manual_check_threshold} badges: check "
                "that the address and phone number belong to an adult social care organisation."
            )
        return Decision(Outcome.REFERRED, reasons)
    # Orders only accepts locations identity authorised, so a location we have not heard of
    # is one whose LocationsAuthorised is still on its way: wait for it rather than refer.
    known = authorised or {}
    if not known or any((line.location_id or "") not in known for line in order.lines):
        return Decision(Outcome.WAIT)
    for line in order.lines:
        location = known[line.location_id or ""]
        if line.location_id in locations_already_ordered:
            reasons.append(f"Location {line.location_id} already has an earlier order.")
        limit = _bed_limit(location, policy)
        if limit is not None and line.staff_count > limit:
            reasons.append(
                f"{line.staff_count} badges for location {line.location_id} is more than "
                f"{policy.max_badges_per_bed:g} per registered bed ({location.care_home_beds} "
                "beds): check the number of staff."
            )
    if reasons:
        return Decision(Outcome.REFERRED, reasons)
    return Decision(Outcome.VERIFIED)


def _bed_limit(location: LocationFacts, policy: Policy) -> int | None:
    if not location.care_home or not location.care_home_beds:
        return None
    return int(location.care_home_beds * policy.max_badges_per_bed)


# Postcode districts on the border with Wales or Scotland, and areas wholly outside England
# (ONS Postcode Directory, as summarised in the project's reference data).
_BORDER_DISTRICTS = frozenset(
    {
        "DG16",
        "TD9",
        "TD12",
        "TD15",
        "CH1",
        "CH4",
        "HR2",
        "HR3",
        "HR5",
        "LD7",
        "LD8",
        "LL11",
        "LL12",
        "LL13",
        "LL14",
        "LL20",
        "NP7",
        "NP16",
        "NP25",
        "SY5",
        "SY10",
        "SY15",
        "SY21",
    }
)
_OUTSIDE_AREAS = frozenset(
    {
        "AB",
        "DD",
        "EH",
        "FK",
        "G",
        "HS",
        "IV",
        "KA",
        "KW",
        "KY",
        "ML",
        "PA",
        "PH",
        "ZE",
        "CF",
        "SA",
        "BT",
        "GY",
        "JE",
        "IM",
    }
)
_OUTWARD = re.compile(r"^([A-Z]{1,2})([0-9][0-9A-Z]?)$")


def _outside_district(area: str, number: str) -> bool:
    digits = int(re.sub(r"\D", "", number) or 0)
    return (
        (area == "DG" and 1 <= digits <= 14)
        or (area == "TD" and f"TD{number}" not in _BORDER_DISTRICTS)
        or (area == "LL" and f"LL{number}" not in _BORDER_DISTRICTS)
        or (area == "CH" and 5 <= digits <= 8)
        or (area == "LD" and 1 <= digits <= 6)
        or (area == "NP" and f"NP{number}" not in _BORDER_DISTRICTS)
        or (area == "SY" and 16 <= digits <= 25 and digits != 21)
    )


def border_reason(postcode: str) -> str | None:
    """Why a delivery postcode needs a person's look, or None for a postcode in England."""
    compact = re.sub(r"[^A-Z0-9]", "", postcode.upper())
    outward = _OUTWARD.match(compact[:-3]) if len(compact) > 3 else None
    if outward is None:
        return f"The delivery postcode {postcode!r} is not a valid UK postcode."
    area, number = outward.groups()
    district = area + number
    if district in _BORDER_DISTRICTS:
        return (
            f"The delivery postcode district {district} straddles the border with Wales or "
            "Scotland: check the address is in England."
        )
    if area in _OUTSIDE_AREAS or _outside_district(area, number):
        return f"The delivery postcode {district} is outside England."
    return None
