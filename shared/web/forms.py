"""GOV.UK error summary and inline error messages from one list of problems.

The Design System asks for the same message in both places, in the order the fields appear on
the page, with each summary entry linking to its field; keeping one ordered mapping makes
that impossible to get wrong.
"""

from __future__ import annotations

from typing import Any


class FormErrors:
    """What is wrong with a submitted form: field id -> the sentence that says how to fix it."""

    def __init__(self) -> None:
        self._messages: dict[str, str] = {}

    def add(self, field: str, message: str) -> None:
        """Record the first problem with ``field`` (one message per field, as GOV.UK asks)."""
        self._messages.setdefault(field, message)

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
