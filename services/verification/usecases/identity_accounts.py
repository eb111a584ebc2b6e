"""Disabling or anonymising an account, which identity owns, at the holder's request.

The back office asks identity rather than touching accounts; the reviewer's own token goes
with the request, so identity checks the role itself and records who acted. Identity's
answer comes back as a refusal the API and the pages each word in their own way.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from shared.identity import IdentityClient, IdentityUnavailable
from shared.usecases import Invalid, NotAllowed, NotFound, Unavailable, UpstreamRefused

#: Identity keeps an account action's reason to 200 characters; the back office takes no more,
#: so a longer one is refused here, by field, instead of by identity as a 502.
REASON_MAX_LENGTH = 200


class AccountAction(StrEnum):
    DISABLE = "disable"
    ANONYMISE = "anonymise"


async def act_on_account(
    link: IdentityClient, action: AccountAction, account_id: UUID, reason: str, token: str
) -> None:
    """Ask identity to disable or anonymise the account; its refusal becomes ours."""
    try:
        answer = await link.post(
            f"/api/accounts/{account_id}/{action.value}", {"reason": reason}, token
        )
    except IdentityUnavailable as exc:
        raise Unavailable(
            "identity-unavailable",
            "Nothing was changed. Try again in a minute.",
            title="The account service did not answer",
        ) from exc
    if answer.status_code == 404:
        raise NotFound("no-such-account", "Check the account ID.", title="Account not found")
    if answer.status_code in (401, 403):
        raise NotAllowed(
            "forbidden",
            "Your account's role does not allow changing accounts.",
            title="You do not have access to this",
        )
    if answer.status_code == 422:
        raise Invalid(
            "invalid-request",
            f"Nothing was changed: reason must be {REASON_MAX_LENGTH} characters or fewer "
            "and must not include control characters.",
            title="The account service refused the reason",
            errors=[{"field": "reason", "message": "was refused by the account service"}],
        )
    if answer.status_code >= 300:
        raise UpstreamRefused(
            "identity-refused",
            f"Nothing was changed (the account service answered {answer.status_code}).",
            title="The account service refused the change",
        )
