"""What a use case raises when the user (or the caller) must change something.

Use cases live in each service's ``usecases/`` package and know nothing of HTTP, pages or
queues. They raise one of these, naming the rule (``code``), what to change (``field``,
when one field is at fault) and a sentence a person can act on. The caller translates:
``api/`` into an RFC 9457 problem (``shared.http.problems.problem_from``), ``web/`` into a
GOV.UK error summary, ``cli.py`` into a message and exit code, ``handlers/`` into an event.

The kind of refusal says what went wrong, not which status code answers it, so the same
rule reads the same from every entry point.
"""

from __future__ import annotations

from typing import Any


class Refused(Exception):
    """A rule stops the request; base of every use case's refusal."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str | None = None,
        title: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.title = title or message
        self.extra = extra


class Invalid(Refused):
    """The request itself breaks a rule: change it and send it again."""


class NotFound(Refused):
    """Nothing the caller may see answers to that reference."""


class Conflict(Refused):
    """The request is well formed but the thing's current state does not allow it."""


class NotAllowed(Refused):
    """The caller may not do this (their role, or a hold on their account)."""


class UpstreamRefused(Refused):
    """Another service this one asked refused or failed: nothing was changed here."""


class Unavailable(Refused):
    """Not now: try again later (``retry_after`` seconds, when known)."""
