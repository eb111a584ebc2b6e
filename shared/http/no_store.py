"""``Cache-Control: no-store`` on every response that does not say otherwise (issue 17, item 8).

The APIs answer with personal data (an account, its orders, a subject-access copy) and the
pages show it: no browser, proxy or shared cache may keep a copy. Deny by default, so a new
route cannot forget it; a response that may be cached (the GOV.UK assets, the MI stylesheet)
sets its own Cache-Control, which is left alone, and the public files under /assets/ are
left to their own rules.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Public files that hold no personal data and are served with their own caching rules.
CACHEABLE = ("/assets/",)


class NoStoreMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CACHEABLE):
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper)
