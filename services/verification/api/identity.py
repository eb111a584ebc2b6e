"""Identity's account API as the back office uses it: disable and anonymise on request.

Identity owns accounts, so the back office asks it rather than touching them; the reviewer's
own token goes with the request, so identity checks the role itself and records who acted.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from shared.http.problems import Problem
from shared.identity import IdentityClient, IdentityUnavailable
from shared.web.staff_sign_in import staff_sign_in

#: Identity keeps an account action's reason to 200 characters; the back office takes no more,
#: so a longer one is refused here, by field, instead of by identity as a 502.
REASON_MAX_LENGTH = 200


class AccountAction(StrEnum):
    DISABLE = "disable"
    ANONYMISE = "anonymise"


#: Where identity is: the one pooled client every site uses (shared/identity.py).
IdentityLink = IdentityClient


async def act_on_account(
    link: IdentityLink, action: AccountAction, account_id: UUID, reason: str, token: str
) -> None:
    """Ask identity to disable or anonymise the account; a refusal becomes a clear Problem."""
    try:
        answer = await link.post(
            f"/api/accounts/{account_id}/{action.value}", {"reason": reason}, token
        )
    except IdentityUnavailable as exc:
        raise Problem(
            503,
            "identity-unavailable",
            "The account service did not answer",
            "Nothing was changed. Try again in a minute.",
        ) from exc
    if answer.status_code == 404:
        raise Problem(404, "no-such-account", "Account not found", "Check the account ID.")
    if answer.status_code in (401, 403):
        raise Problem(
            answer.status_code,
            "forbidden",
            "You do not have access to this",
            "Your account's role does not allow changing accounts.",
        )
    if answer.status_code == 422:
        raise Problem(
            422,
            "invalid-request",
            "The account service refused the reason",
            f"Nothing was changed: reason must be {REASON_MAX_LENGTH} characters or fewer "
            "and must not include control characters.",
            errors=[{"field": "reason", "message": "was refused by the account service"}],
        )
    if answer.status_code >= 300:
        raise Problem(
            502,
            "identity-refused",
            "The account service refused the change",
            f"Nothing was changed (the account service answered {answer.status_code}).",
        )


#: Staff sign in with a password: identity's tokens, or None if it said no; raises
#: :class:`shared.identity.TooManyAttempts` while identity refuses attempts. The browser's
#: address goes with it, so each member of staff is their own source at identity, and its
#: device cookie's tokens (ADR 0064, 0065).
sign_in = staff_sign_in


async def sign_out(link: IdentityLink, access_token: str) -> None:
    """End the identity session (best effort: the page session is deleted regardless)."""
    await link.sign_out(access_token)
