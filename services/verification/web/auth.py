"""Staff sign-in for the back office pages: identity checks the password, the page session
keeps identity's tokens (never sent to the browser), and every page checks the role.

Identity's access tokens last five minutes; a page request with an expired one swaps the
refresh token for new ones, so a reviewer working the queue all day is not thrown out.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from services.verification.api import identity
from shared.http.auth import Principal
from shared.http.problems import Problem
from shared.runtime import Service
from shared.web import web_session

AUTH_KEY = "auth"
ROLE = "customer_service"


class NotAReviewer(Exception):
    """Signed in, but not with the customer services role: 403, deny by default."""


class SignInNeeded(Exception):
    """No valid staff session: the page sends the reviewer to sign in, then back."""

    def __init__(self, back_to: str) -> None:
        super().__init__(back_to)
        self.back_to = back_to


@dataclass(frozen=True)
class SignedIn:
    principal: Principal
    access_token: str


def remember(request: Request, tokens: dict[str, str]) -> None:
    session = web_session(request)
    session.rotate()  # a new session id at sign-in: no fixation
    session[AUTH_KEY] = {"access": tokens["access_token"], "refresh": tokens["refresh_token"]}


class Reviewers:
    """The dependency every back-office page uses to know who is signed in."""

    def __init__(self, service: Service, link: identity.IdentityLink) -> None:
        self.service = service
        self.link = link

    async def __call__(self, request: Request) -> SignedIn:
        session = web_session(request)
        auth = session.get(AUTH_KEY)
        if not isinstance(auth, dict):
            raise SignInNeeded(request.url.path)
        try:
            principal = self.service.verifier().verify(auth["access"])
        except Problem:
            tokens = await identity.refresh(self.link, auth["refresh"])
            if tokens is None:
                session.pop(AUTH_KEY)
                raise SignInNeeded(request.url.path) from None
            session[AUTH_KEY] = {
                "access": tokens["access_token"],
                "refresh": tokens["refresh_token"],
            }
            principal = self.service.verifier().verify(tokens["access_token"])
        if principal.role != ROLE:
            raise NotAReviewer
        return SignedIn(principal, session[AUTH_KEY]["access"])
