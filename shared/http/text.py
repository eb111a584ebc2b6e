"""Text PostgreSQL can store: the one check every API body, query and form field goes through
(API bodies and queries in ``shared.http.limits``, before any route; forms in ``FormErrors``).

PostgreSQL refuses the NUL character in ``text`` (and ``\\u0000`` in ``jsonb``), and a lone
UTF-16 surrogate (valid in JSON's ``\\ud800`` escape, decoded by Python as is) cannot be
encoded as UTF-8 at all. Either one, let through, fails the statement: a 500, and a session
or row that can no longer be saved. Refusing them at the edge, naming the field, makes that a
422 (or a GOV.UK error on a page) instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

NUL_MESSAGE = "must not contain the NUL character (\\u0000): remove it"
SURROGATE_MESSAGE = (
    "must not contain an unpaired surrogate (\\ud800 to \\udfff): send valid Unicode text"
)


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored (a sentence ending, after the field name), or None."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return NUL_MESSAGE if found.group() == "\x00" else SURROGATE_MESSAGE


def unstorable_fields(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Each (dotted field path, reason) in a parsed JSON document holding unstorable text.

    Object keys are checked too (a key reaches the database inside any ``jsonb`` column).
    """
    if isinstance(value, str):
        reason = unstorable(value)
        if reason is not None:
            yield path or "body", reason
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            reason = unstorable(str(key))
            if reason is not None:
                yield where, f"(a key) {reason}"
            yield from unstorable_fields(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unstorable_fields(item, f"{path}.{index}" if path else str(index))
