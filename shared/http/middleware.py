"""Pure ASGI middleware (no per-request task overhead): correlation id, metrics, headers."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.metrics import HTTP_LATENCY, HTTP_REQUESTS

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        b"frame-ancestors 'none'",
    ),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class ObservabilityMiddleware:
    """Binds a correlation id to the request's logs and echoes it; records route metrics."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-correlation-id", b"").decode("latin-1")
        correlation_id = incoming if _SAFE_ID.match(incoming) else str(uuid.uuid4())
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [(b"x-correlation-id", correlation_id.encode()), *SECURITY_HEADERS]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                route = _route_template(scope)
                method = scope.get("method", "GET")
                HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
                HTTP_LATENCY.labels(self.service, method, route).observe(
                    time.perf_counter() - started
                )


def _route_template(scope: Scope) -> str:
    """The matched route's path template (bounded label set), never the raw path."""
    route = scope.get("route")
    if route is not None and hasattr(route, "path"):
        return str(route.path)
    app: Any = scope.get("app")
    return _match(getattr(getattr(app, "router", None), "routes", []), scope)


def _match(routes: Any, scope: Scope) -> str:
    """Find the template among ``routes`` (for requests answered before routing, such as a
    refused body); included routers are searched through."""
    for candidate in routes:
        path = getattr(candidate, "path", None)
        if path is None:
            found = _match(getattr(candidate, "routes", []), scope)
            if found != "unmatched":
                return found
            continue
        match, _ = candidate.matches(scope)
        if match == Match.FULL:
            return str(path)
    return "unmatched"
