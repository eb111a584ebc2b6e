"""Identity's account API as the back office uses it: disable and anonymise on request.

Identity owns accounts, so the back office asks it rather than touching them; the reviewer's
own token goes with the request, so identity checks the role itself and records who acted.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

import httpx

from shared.http.problems import Problem


class AccountAction(StrEnum):
    DISABLE = "disable"
    ANONYMISE = "anonymise"


class IdentityLink:
    """Where identity is; tests that run it in process set ``transport`` to reach it there."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.transport: httpx.AsyncBaseTransport | None = None

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url, timeout=self.timeout, transport=self.transport
        )


async def act_on_account(
    link: IdentityLink, action: AccountAction, account_id: UUID, reason: str, token: str
) -> None:
    """Ask identity to disable or anonymise the account; a refusal becomes a clear Problem."""
    try:
        async with link.client() as client:
            answer = await client.post(
                f"/api/accounts/{account_id}/{action.value}",
                json={"reason": reason},
                headers={"Authorization": f"Bearer {token}"},
            )
    except httpx.HTTPError as exc:
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
    if answer.status_code >= 300:
        raise Problem(
            502,
            "identity-refused",
            "The account service refused the change",
            f"Nothing was changed (the account service answered {answer.status_code}).",
        )
