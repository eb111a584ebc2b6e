"""Whether two organisation names are probably the same organisation.

Providers re-register under a second email with the name typed slightly differently ("St.
Anne's Care Home Ltd" and "St Annes Care Home"), so names are compared after dropping case,
punctuation and legal suffixes, then by similarity rather than equality. A false match only
sends an order to a person, so the threshold leans towards matching.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

_NOISE = frozenset({"ltd", "limited", "the", "llp", "plc", "cic", "co", "company", "uk", "inc"})


def normalise(name: str) -> str:
    """The name without case, punctuation, apostrophes or legal suffixes."""
    words = re.sub(r"[^a-z0-9 ]", "", name.lower().replace("&", " and ").replace("-", " ")).split()
    return " ".join(w for w in words if w not in _NOISE)


def similar(a: str, b: str, threshold: float) -> bool:
    """True when the two names, normalised, are at least ``threshold`` alike (0 to 1)."""
    left, right = normalise(a), normalise(b)
    if not left or not right:
        return False
    return left == right or SequenceMatcher(None, left, right).ratio() >= threshold
