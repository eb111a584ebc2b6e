"""Identity's account API as the back office uses it: disable and anonymise on request.

Identity owns accounts, so the back office asks it rather than touching them; the reviewer's
own token goes with the request, so identity checks the role itself and records who acted.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

import httpx

from shared.http.problems import Problem

#: Identity keeps an account action's reason to 200 characters; the back office takes no more,
#: so a longer one is refused here, by field, instead of by identity as a 502.
REASON_MAX_LENGTH = 200


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


async def sign_in(link: IdentityLink, email: str, password: str) -> dict[str, Any] | None:
    """Staff sign in with a password: identity's tokens, or None if it said no."""
    return await _tokens(link, "/api/sign-in", {"email": email, "password": password})


async def refresh(link: IdentityLink, refresh_token: str) -> dict[str, Any] | None:
    """New tokens for a page session whose 5-minute access token has expired."""
    return await _tokens(link, "/api/token", {"refresh_token": refresh_token})


async def sign_out(link: IdentityLink, access_token: str) -> None:
    """End the identity session (best effort: the page session is deleted regardless)."""
    try:
        async with link.client() as client:
            await client.post("/api/sign-out", headers={"Authorization": f"Bearer {access_token}"})
    except httpx.HTTPError:
        return


async def _tokens(link: IdentityLink, path: str, body: dict[str, str]) -> dict[str, Any] | None:
    try:
        async with link.client() as client:
            answer = await client.post(path, json=body)
    except httpx.HTTPError as exc:
        raise Problem(
            503,
            "identity-unavailable",
            "The sign-in service did not answer",
            "Try again in a minute.",
        ) from exc
    if answer.status_code != 200:
        return None
    tokens: dict[str, Any] = answer.json()
    return tokens


async def choose_password(link: IdentityLink, token: str, password: str) -> str | None:
    """Set a staff member's password from their emailed link: None when done, else what to
    tell them (the password's problem, or that the link no longer works)."""
    try:
        async with link.client() as client:
            answer = await client.post(
                "/api/password-reset/confirm", json={"token": token, "password": password}
            )
    except httpx.HTTPError as exc:
        raise Problem(
            503, "identity-unavailable", "The sign-in service did not answer", "Try again."
        ) from exc
    if answer.status_code < 300:
        return None
    problem = answer.json() if answer.content else {}
    for error in problem.get("errors", []):
        if error.get("field") == "password":
            return f"Password {error.get('message', 'is not allowed')}"
    return "This link has expired or has already been used: ask for a new one"
