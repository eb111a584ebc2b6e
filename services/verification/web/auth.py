"""Staff sign-in for the back office pages: the shared staff sign-in
(:mod:`shared.web.staff_sign_in`) for the customer services role.

The names the back office's pages use are kept here, so they read as before.
"""

from __future__ import annotations

from shared.identity import ACCESS_TOKEN, AUTH_KEY, IdentityClient
from shared.runtime import Service
from shared.web.staff_sign_in import (
    NotPermitted,
    SignedIn,
    SignInNeeded,
    StaffPages,
    remember,
)

ROLE = "customer_service"

#: Signed in, but not with the customer services role: 403, deny by default.
NotAReviewer = NotPermitted

__all__ = [
    "ACCESS_TOKEN",
    "AUTH_KEY",
    "ROLE",
    "NotAReviewer",
    "Reviewers",
    "SignInNeeded",
    "SignedIn",
    "remember",
]


class Reviewers(StaffPages):
    """The dependency every back-office page uses to know who is signed in."""

    def __init__(self, service: Service, link: IdentityClient) -> None:
        super().__init__(service.verifier, link, {ROLE})
        self.service = service
        self.link = link
