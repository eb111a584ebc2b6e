"""Refusing request bodies an API cannot take before any route sees them: too large (413) or
not JSON (415), each as a problem document that says what to send instead.

Pure ASGI, so the body is checked as it arrives: a client that promises a small body and
sends a large one is cut off at the limit, not buffered without end.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http.problems import PROBLEM_JSON, TYPE_BASE

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
        if (
            scope["type"] != "http"
            or scope["method"] not in _WITH_BODY
            or not scope["path"].startswith(self.prefix)
        ):
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
    send: Send, scope: Scope, status: int, slug: str, title: str, detail: str
) -> None:
    payload = json.dumps(
        {
            "type": TYPE_BASE + slug,
            "title": title,
            "status": status,
            "detail": detail,
            "instance": scope["path"],
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
