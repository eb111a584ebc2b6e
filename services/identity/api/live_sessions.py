"""Identity honours sign-out at once: an access token whose session has ended is refused here,
although its signature and expiry are still good (issue 17, item 5; ADR 0066).

Every other service verifies tokens alone, so there a revoked session's token works until it
expires (at most ``token_ttl_seconds``, 5 minutes by default and never more than 15). Identity
holds the session table, so it looks: one indexed primary-key read per request that carries a
valid bearer token. A token that does not verify is left to the route, which refuses it.
"""

from __future__ import annotations

from uuid import UUID

from starlette.types import ASGIApp, Receive, Scope, Send

from services.identity.api.refusals import problem_of
from services.identity.usecases import sessions
from services.identity.usecases.refusals import session_ended
from shared.http.problems import Problem, problem_response
from shared.runtime import Service


class EndedSessionsRefused:
    """ASGI middleware: 401 for a bearer token whose identity session has ended."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _bearer(scope)
        if token and not await self._live(scope, token):
            problem = problem_of(session_ended())
            ended = problem_response(
                problem.status,
                problem.slug,
                problem.title,
                problem.detail,
                instance=scope.get("path", ""),
                headers={"WWW-Authenticate": "Bearer"},
            )
            await ended(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _live(self, scope: Scope, token: str) -> bool:
        try:
            principal = self.service.verifier().verify(token)
            session_id = UUID(principal.session_id) if principal.session_id else None
        except (Problem, ValueError):
            return True  # not a valid token: the route's own check refuses it
        if session_id is None:
            return True  # minted without a session (none is, outside tests)
        clock = scope["app"].state.identity.clock
        return await sessions.is_live(self.service, session_id, clock())


def _bearer(scope: Scope) -> str:
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""
