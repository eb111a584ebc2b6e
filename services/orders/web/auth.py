"""Who is signed in to the site: identity's tokens, kept in the server-side session and
renewed as on every site (:mod:`shared.identity`), with the account's kind, its locations
and the email address the order emails go to."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request

from shared.http.auth import Principal
from shared.http.problems import Problem
from shared.identity import (
    ACCESS_TOKEN,
    AUTH_KEY,
    IdentityClient,
    end_session,
    remember,
    signed_in_tokens,
)
from shared.runtime import Service
from shared.web import web_session

#: What the site keeps of identity's answer beside the tokens; renewal refreshes them too.
KEPT = ("kind", "locations")


def sign_in_first() -> HTTPException:
    return HTTPException(303, headers={"Location": "/sign-in"})


class SiteAuth:
    def __init__(self, service: Service, identity: IdentityClient) -> None:
        self.service = service
        self.identity = identity

    def keep(self, request: Request, signed_in: dict[str, Any], email: str) -> None:
        """Hold a fresh sign-in's tokens; a new session id, so a planted one is useless.

        ``email`` is the address identity just accepted: the order emails go there."""
        remember(web_session(request), signed_in, *KEPT, email=email)

    def locations(self, request: Request) -> dict[str, dict[str, Any]]:
        """The signed-in account's locations as CQC describes them, by location id."""
        auth = web_session(request).get(AUTH_KEY) or {}
        return {loc["location_id"]: loc for loc in auth.get("locations", [])}

    def email(self, request: Request) -> str | None:
        return (web_session(request).get(AUTH_KEY) or {}).get("email")

    def kind(self, request: Request) -> str:
        return str((web_session(request).get(AUTH_KEY) or {}).get("kind", ""))

    async def principal(self, request: Request) -> Principal:
        """The signed-in provider (a page dependency); anyone else goes to sign in."""
        session = web_session(request)
        kept = await signed_in_tokens(session, self.identity, *KEPT)
        if kept is None:
            raise sign_in_first()
        try:
            principal = self.service.verifier().verify(kept[ACCESS_TOKEN])
        except Problem:
            session.pop(AUTH_KEY)
            raise sign_in_first() from None
        if principal.role != "provider":
            raise HTTPException(403)
        return principal

    async def sign_out(self, request: Request) -> None:
        """End identity's session too (its refresh token stops working), then forget ours."""
        await end_session(web_session(request), self.identity)
