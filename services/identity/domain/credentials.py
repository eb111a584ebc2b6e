"""What a CQC-registered location signs in with (FAQ questions 4 and 5).

The "password" is the location's ODS code, or for a few inspection categories (which CQC gives
no ODS code) its postcode. Both are public identifiers, so they are compared as they are, not
hashed: the protections that matter are the brute-force limits and where badges are sent.
"""

from __future__ import annotations

import hmac
import re
from typing import Protocol

#: Inspection categories that sign in with the postcode, worded as CQC's extract has them.
POSTCODE_SIGN_IN_CATEGORIES = frozenset(
    {
        "Hospice services",
        "Community substance misuse",
        "Residential substance misuse",
        "Mental health - community & hospital independent",
    }
)

_NOT_WORD = re.compile(r"[^a-z0-9]+")


def _fold_category(category: str) -> str:
    """Category wording without case, punctuation or spacing, '&' read as 'and'.

    CQC has written the mental health category with and without a second dash; both count.
    """
    return _NOT_WORD.sub(" ", category.casefold().replace("&", " and ")).strip()


_POSTCODE_CATEGORIES_FOLDED = frozenset(_fold_category(c) for c in POSTCODE_SIGN_IN_CATEGORIES)


def signs_in_with_postcode(inspection_category: str) -> bool:
    return _fold_category(inspection_category) in _POSTCODE_CATEGORIES_FOLDED


def normalise_code(password: str) -> str:
    """How people type ODS codes and postcodes varies; spaces and case do not count."""
    return "".join(password.split()).upper()


class Credentials(Protocol):
    @property
    def ods_code(self) -> str | None: ...
    @property
    def postcode(self) -> str: ...
    @property
    def inspection_category(self) -> str: ...


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


def password_matches(location: Credentials, password: str) -> bool:
    """True if ``password`` is this location's ODS code, or its postcode where that is allowed."""
    given = normalise_code(password)
    if not given:
        return False
    by_ods = bool(location.ods_code) and _same(normalise_code(location.ods_code or ""), given)
    by_postcode = signs_in_with_postcode(location.inspection_category) and _same(
        normalise_code(location.postcode), given
    )
    return by_ods or by_postcode
