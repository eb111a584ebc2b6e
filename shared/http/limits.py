"""Refusing requests an API cannot take before any route sees them: a body too large (413) or
not JSON (415), and text PostgreSQL cannot store in any body field or query parameter (422,
naming the field), each as a problem document that says what to send instead.

Pure ASGI, so the body is checked as it arrives: a client that promises a small body and
sends a large one is cut off at the limit, not buffered without end.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http.problems import INVALID_TITLE, PROBLEM_JSON, TYPE_BASE
from shared.http.text import unstorable, unstorable_fields

#: Generous for any form this service takes (a registration is under 2 KiB).
DEFAULT_MAX_BODY = 64 * 1024
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


class BodyTooLarge(Exception):
    pass


class RequestLimitsMiddleware:
    def __init__(
        self, app: ASGIApp, *, max_body: int = DEFAULT_MAX_BODY, prefix: str = "/api/"
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        bad_query = list(_unstorable_query(scope))
        if bad_query:
            await _unstorable_problem(send, scope, bad_query)
            return
        if scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await self._too_large(scope, send)
            return
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        has_body = length != "0" and (length is not None or "transfer-encoding" in headers)
        if has_body and not _is_json(content_type):
            await _problem(
                send,
                scope,
                415,
                "unsupported-media-type",
                "Send the request as JSON",
                f"This API takes JSON: send the body with 'Content-Type: application/json' "
                f"(this request said {content_type or 'nothing'!r}).",
            )
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(bytes(body), message), send)
                return
            body.extend(message.get("body", b""))
            more = message.get("more_body", False)
            if len(body) > self.max_body:
                await self._too_large(scope, send)
                return
        bad_fields = _unstorable_body(bytes(body))
        if bad_fields:
            await _unstorable_problem(send, scope, bad_fields)
            return
        await self.app(scope, _replay(bytes(body), None), send)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        await _problem(
            send,
            scope,
            413,
            "body-too-large",
            "Request too large",
            f"The request body must be {self.max_body // 1024} KiB or less.",
        )


def _unstorable_query(scope: Scope) -> list[tuple[str, str]]:
    """Query parameters (and the path, which may hold an id) holding unstorable text."""
    found = []
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        reason = unstorable(value) or unstorable(name)
        if reason is not None:
            found.append((name, reason))
    reason = unstorable(scope["path"])
    if reason is not None:
        found.append(("path", reason))
    return found


def _unstorable_body(body: bytes) -> list[tuple[str, str]]:
    """Body fields holding unstorable text; a body that is not JSON is the route's to refuse."""
    if not body:
        return []
    try:
        document = json.loads(body)
    except ValueError:
        return []
    return list(unstorable_fields(document))


async def _unstorable_problem(send: Send, scope: Scope, fields: list[tuple[str, str]]) -> None:
    errors = [{"field": field, "message": message} for field, message in fields]
    await _problem(
        send,
        scope,
        422,
        "invalid-request",
        INVALID_TITLE,
        "; ".join(f"{e['field']} {e['message']}" for e in errors[:5]),
        errors=errors,
    )


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def _replay(body: bytes, after: Message | None) -> Receive:
    """A receive() that gives the app the body already read, then what came after it."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return after or {"type": "http.disconnect"}

    return receive


async def _problem(
    send: Send, scope: Scope, status: int, slug: str, title: str, detail: str, **extra: Any
) -> None:
    # json.dumps escapes to ASCII, so a field name holding a surrogate still renders.
    payload = json.dumps(
        {
            "type": TYPE_BASE + slug,
            "title": title,
            "status": status,
            "detail": detail,
            "instance": scope["path"],
            **extra,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
