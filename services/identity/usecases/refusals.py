"""Identity's refusals: the kinds its callers answer differently from the shared ones, and
the wording several use cases share.

A sign-in that is not recognised and a session that has ended are :class:`NotSignedIn`
(the API answers 401, not 403); too many attempts carries how long to wait; a link that has
expired or was used is :class:`LinkNotValid` (the API answers 400: the link, not a field,
is at fault).
"""

from __future__ import annotations

from shared.usecases import Invalid, NotAllowed, NotFound, Unavailable


class NotSignedIn(NotAllowed):
    """Who is asking is not established: details not recognised, or the sign-in has ended."""


class TooManyAttempts(Unavailable):
    """The brute-force guard holds the account, device or address for ``retry_after`` s."""

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, (retry_after + 59) // 60)
        super().__init__(
            "too-many-attempts",
            f"There have been too many attempts to sign in. Wait {minutes} "
            f"minute{'s' if minutes != 1 else ''} and try again, or reset your password.",
            title="Too many attempts",
            retry_after=retry_after,
        )
        self.retry_after = retry_after


class LinkNotValid(Invalid):
    """An emailed single-use link that has expired or has already been used."""

    def __init__(self, message: str) -> None:
        super().__init__(
            "link-not-valid", message, title="This link has expired or has already been used"
        )


def not_recognised() -> NotSignedIn:
    """One answer for an unknown email and a wrong code, so neither reveals which it was."""
    return NotSignedIn(
        "sign-in-failed",
        "The email address or password is not right. Check them and try again. If you have "
        "not chosen a password, use the email address CQC holds for your location and its "
        "ODS code (or its postcode if your location is a hospice, substance misuse or mental "
        "health community & hospital service).",
        title="Sign-in details not recognised",
    )


def signed_out() -> NotSignedIn:
    """The account behind a still-valid token is gone or disabled."""
    return NotSignedIn("session-ended", "Sign in again.", title="You have been signed out")


def session_ended() -> NotSignedIn:
    """A refresh token, or an access token, whose session has ended."""
    return NotSignedIn(
        "session-ended",
        "Your sign-in has ended (you signed out, were inactive for too long, or your password "
        "changed). Sign in again.",
        title="You have been signed out",
    )


def service_closed() -> NotAllowed:
    """After closure, said plainly instead of "not recognised" (the closure is public)."""
    return NotAllowed(
        "portal-closed",
        "Badges can no longer be ordered, and no account or location can be added. If you "
        "ordered before it closed, sign in with the email address and password (or the ODS "
        "code of a location) you used then to see your orders.",
        title="The CARE badges service has closed",
    )


def no_such_account() -> NotFound:
    return NotFound("no-such-account", "Check the account ID.", title="Account not found")


def password_not_allowed(problems: list[str]) -> Invalid:
    """Every rule the password breaks, the first as the sentence to act on."""
    return Invalid(
        "password-not-allowed",
        problems[0],
        field="password",
        title="Choose a different password",
        errors=[{"field": "password", "message": message} for message in problems],
    )
