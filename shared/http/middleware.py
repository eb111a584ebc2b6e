"""Pure ASGI middleware (no per-request task overhead): correlation id, metrics, headers."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import tracing
from shared.logging import get_logger
from shared.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = get_logger(__name__)

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_READS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Probes and scrapes: no span (a trace per scrape would bury the orders' traces).
_UNTRACED = frozenset({"/metrics", "/healthz", "/readyz", "/favicon.ico"})

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

        if scope.get("path") in _UNTRACED:
            with structlog.contextvars.bound_contextvars(correlation_id=correlation_id):
                try:
                    await self.app(scope, receive, send_wrapper)
                finally:
                    self._measure(scope, status, started)
            return
        # The request's server span continues the caller's trace (W3C traceparent) or
        # starts one; its trace id goes on every line logged meanwhile (shared.tracing).
        method = scope.get("method", "GET")
        with tracing.span(
            f"HTTP {method}",
            kind=tracing.SpanKind.SERVER,
            parent=tracing.context_from_traceparent(headers.get(b"traceparent")),
        ) as span:
            with structlog.contextvars.bound_contextvars(
                correlation_id=correlation_id,
                trace_id=tracing.trace_id_of(span),
                service=self.service,
            ):
                try:
                    await self.app(scope, receive, send_wrapper)
                finally:
                    route = self._measure(scope, status, started)
                    if method not in _READS:  # one line per change (an order placed, ...)
                        log.info(
                            "request handled",
                            method=method,
                            route=route,
                            status=status,
                            ms=round((time.perf_counter() - started) * 1000, 1),
                        )
                    structlog.contextvars.unbind_contextvars("order_id")  # tracing.follow_order
                    if span.is_recording():
                        span.update_name(f"{method} {route}")
                        span.set_attributes(
                            {
                                "http.request.method": method,
                                "http.route": route,
                                "http.response.status_code": status,
                                "care.service": self.service,
                                "care.correlation_id": correlation_id,
                            }
                        )

    def _measure(self, scope: Scope, status: int, started: float) -> str:
        route = _route_template(scope)
        method = scope.get("method", "GET")
        HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
        HTTP_LATENCY.labels(self.service, method, route).observe(time.perf_counter() - started)
        return route


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
