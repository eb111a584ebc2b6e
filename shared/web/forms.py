"""GOV.UK error summary and inline error messages from one list of problems.

The Design System asks for the same message in both places, in the order the fields appear on
the page, with each summary entry linking to its field; keeping one ordered mapping makes
that impossible to get wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.http.text import unstorable

#: What a field is called in an error, when its form gives it no label of its own.
ANSWER = "Your answer"


class FormErrors:
    """What is wrong with a submitted form: field id -> the sentence that says how to fix it."""

    def __init__(self) -> None:
        self._messages: dict[str, str] = {}

    def add(self, field: str, message: str) -> None:
        """Record the first problem with ``field`` (one message per field, as GOV.UK asks)."""
        self._messages.setdefault(field, message)

    def refuse_unstorable(self, form: Mapping[str, Any], labels: Mapping[str, str]) -> None:
        """Record every submitted field holding text PostgreSQL cannot store (a NUL character).

        Checked before a form's own rules, over every field it sent, so no field can reach a
        store, a session or another service's API with it: that was a 500, and a session that
        could no longer be saved.
        """
        for field, value in form.items():
            if isinstance(value, str) and unstorable(value) is not None:
                label = labels.get(field, ANSWER)
                self.add(
                    field, f"{label} must not include hidden control characters: type it again"
                )

    def __bool__(self) -> bool:
        return bool(self._messages)

    def __contains__(self, field: object) -> bool:
        return field in self._messages

    def summary(self) -> list[dict[str, str]]:
        """The ``errorList`` for govukErrorSummary: each entry links to its field."""
        return [{"text": text, "href": f"#{field}"} for field, text in self._messages.items()]

    def message(self, field: str) -> dict[str, Any] | None:
        """The ``errorMessage`` for a field's macro, or None (no error shown)."""
        text = self._messages.get(field)
        return {"text": text} if text is not None else None
