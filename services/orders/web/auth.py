"""Who is signed in to the site: identity's tokens, kept in the server-side session.

The access token lives five minutes; the page that needs it renews it with the refresh token
first when it is about to expire, so a user filling in the order is not signed out midway
(the session's own 30-minute idle limit still applies).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import HTTPException, Request

from services.orders.web.identity import IdentityClient, Refused
from shared.http.auth import Principal
from shared.http.problems import Problem
from shared.runtime import Service
from shared.web import web_session

AUTH = "auth"
_RENEW_WITHIN_SECONDS = 30


def sign_in_first() -> HTTPException:
    return HTTPException(303, headers={"Location": "/sign-in"})


class SiteAuth:
    def __init__(self, service: Service, identity: IdentityClient) -> None:
        self.service = service
        self.identity = identity

    def keep(self, request: Request, signed_in: dict[str, Any], email: str) -> None:
        """Hold a fresh sign-in's tokens; a new session id, so a planted one is useless.

        ``email`` is the address identity just accepted: the order emails go there."""
        session = web_session(request)
        session.rotate()
        session[AUTH] = {
            "access_token": signed_in["access_token"],
            "refresh_token": signed_in["refresh_token"],
            "expires_at": time.time() + int(signed_in["expires_in"]),
            "kind": signed_in["kind"],
            "locations": signed_in["locations"],
            "email": email,
        }

    def locations(self, request: Request) -> dict[str, dict[str, Any]]:
        """The signed-in account's locations as CQC describes them, by location id."""
        auth = web_session(request).get(AUTH) or {}
        return {loc["location_id"]: loc for loc in auth.get("locations", [])}

    def email(self, request: Request) -> str | None:
        return (web_session(request).get(AUTH) or {}).get("email")

    def kind(self, request: Request) -> str:
        return str((web_session(request).get(AUTH) or {}).get("kind", ""))

    async def principal(self, request: Request) -> Principal:
        """The signed-in provider (a page dependency); anyone else goes to sign in."""
        session = web_session(request)
        auth = session.get(AUTH)
        if not auth:
            raise sign_in_first()
        if auth["expires_at"] - time.time() < _RENEW_WITHIN_SECONDS:
            try:
                renewed = await self.identity.renew(auth["refresh_token"])
            except Refused:
                session.pop(AUTH)
                raise sign_in_first() from None
            session[AUTH] = {
                **auth,
                "access_token": renewed["access_token"],
                "refresh_token": renewed["refresh_token"],
                "expires_at": time.time() + int(renewed["expires_in"]),
                "locations": renewed["locations"],
            }
            auth = session[AUTH]
        try:
            principal = self.service.verifier().verify(auth["access_token"])
        except Problem:
            session.pop(AUTH)
            raise sign_in_first() from None
        if principal.role != "provider":
            raise HTTPException(403)
        return principal

    async def sign_out(self, request: Request) -> None:
        """End identity's session too (its refresh token stops working), then forget ours."""
        session = web_session(request)
        if session.get(AUTH):
            try:
                await self.principal(request)  # renews an expired access token first
                await self.identity.sign_out(session[AUTH]["access_token"])
            except (HTTPException, Refused):
                pass  # identity's session has ended already
        session.end()
