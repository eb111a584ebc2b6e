"""CSRF protection: a synchronizer token kept in the session and sent back by every form.

A router gets ``dependencies=[Depends(require_csrf)]`` so no state-changing page route can
forget the check; every form template includes ``csrfField()`` from ``forms.html``.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request

from shared.web.sessions import web_session

FIELD = "csrf_token"
_KEY = "_csrf"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfFailed(Exception):
    """The form came without the token its session issued (forged, or the session expired)."""


def csrf_token(request: Request) -> str:
    """The session's token, made on first use (so only a page with a form starts a session)."""
    session = web_session(request)
    token = session.get(_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[_KEY] = token
    return token


async def require_csrf(request: Request) -> None:
    """Refuse a state-changing request whose form does not carry the session's token."""
    if request.method not in _UNSAFE:
        return
    expected = web_session(request).get(_KEY)
    form = await request.form()  # Starlette caches it: the route reads the same form
    sent = form.get(FIELD)
    if not isinstance(expected, str) or not isinstance(sent, str):
        raise CsrfFailed
    if not hmac.compare_digest(expected.encode(), sent.encode()):
        raise CsrfFailed
