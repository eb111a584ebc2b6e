"""Whether a delivery postcode is in England, on its border, or outside it.

From the ONS Postcode Directory as summarised in ../shared/data/postcode-countries.md: a
district that straddles the border with Wales or Scotland goes to a person, and so does one
wholly outside England (the site stops those, so one reaching here means something slipped).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class PostcodeVerdict(StrEnum):
    ENGLAND = "england"
    BORDER = "border"
    OUTSIDE = "outside"
    INVALID = "invalid"


@dataclass(frozen=True)
class PostcodeFinding:
    verdict: PostcodeVerdict
    #: Plain words for the reviewer; empty for a postcode in England.
    reason: str = ""


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


def compact(postcode: str) -> str:
    """The postcode as stored for matching: upper case, letters and digits only."""
    return re.sub(r"[^A-Z0-9]", "", postcode.upper())


def classify(postcode: str) -> PostcodeFinding:
    """Where a delivery postcode lies, with the reason a reviewer reads when it is not England."""
    code = compact(postcode)
    outward = _OUTWARD.match(code[:-3]) if len(code) > 3 else None
    if outward is None:
        return PostcodeFinding(
            PostcodeVerdict.INVALID,
            "The delivery postcode is not a valid UK postcode.",
        )
    area, number = outward.groups()
    district = area + number
    if district in _BORDER_DISTRICTS:
        return PostcodeFinding(
            PostcodeVerdict.BORDER,
            f"The delivery postcode district {district} straddles the border with Wales or "
            "Scotland: check the address is in England.",
        )
    if area in _OUTSIDE_AREAS or _outside_district(area, number):
        return PostcodeFinding(
            PostcodeVerdict.OUTSIDE, f"The delivery postcode {district} is outside England."
        )
    return PostcodeFinding(PostcodeVerdict.ENGLAND)


def border_reason(postcode: str) -> str | None:
    """Why a delivery postcode needs a person's look, or None for a postcode in England."""
    return classify(postcode).reason or None
