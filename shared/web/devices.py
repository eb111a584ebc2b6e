"""The device cookie: the tokens identity hands a browser at a successful sign-in (ADR 0064).

Identity counts a sign-in that carries a valid device token for the account apart from
unknown sources, so an attacker guessing from elsewhere cannot lock the owner out of the
browser they usually use. The site only keeps the tokens: one per account signed in to from
this browser, at most :data:`MAX_TOKENS`, newest first, in a ``__Host-`` cookie (Secure, no
Domain, Path=/), HttpOnly and SameSite=Strict, for a year. A token names no account.
"""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import Response

COOKIE = "__Host-care-device"
MAX_TOKENS = 5
MAX_AGE = 365 * 24 * 3600
_TOKEN = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


def device_tokens(request: Request) -> list[str]:
    """The well-formed tokens this browser holds (identity checks that they are valid)."""
    raw = request.cookies.get(COOKIE, "")
    return [t for t in raw.split("~") if _TOKEN.match(t)][:MAX_TOKENS]


def keep_device(request: Request, response: Response, token: object) -> None:
    """Put identity's ``token`` first in the cookie, keeping the others this browser holds."""
    if not isinstance(token, str) or not _TOKEN.match(token):
        return
    others = [t for t in device_tokens(request) if t != token]
    response.set_cookie(
        COOKIE,
        "~".join([token, *others][:MAX_TOKENS]),
        max_age=MAX_AGE,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )
