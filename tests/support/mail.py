"""Real stand-ins for the two email transports: an SMTP sink and a local GOV.UK Notify API.

:class:`SmtpSink` is an aiosmtpd server on 127.0.0.1 that keeps every message it accepts
(parsed) and can be told to refuse the next recipients with a reply code. :class:`NotifyStandIn`
answers ``POST /v2/notifications/email`` as Notify does, checking the JWT the official client
signs with the secret half of the API key, and can be told to fail the next calls.
"""

from __future__ import annotations

import asyncio
import email
import email.message
import email.policy
import json
import logging
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

# aiosmtpd logs each recipient address at INFO.
logging.getLogger("mail.log").setLevel(logging.WARNING)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --- SMTP -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage
    #: The client's address and port: messages with the same one came on one connection.
    peer: Any = None


class _SinkHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self._sink._next_refusal()
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        with self._sink._lock:
            self._sink.received.append(
                Received(str(envelope.mail_from), list(envelope.rcpt_tos), parsed, session.peer)
            )
            if server.transport is not None:
                self._sink._open.append(server.transport)
        return "250 Message accepted for delivery"


class SmtpSink:
    """An SMTP server in a background thread that collects what it is sent."""

    def __init__(self) -> None:
        self.port = free_port()
        self.host = "127.0.0.1"
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._refusals: list[str] = []
        #: Transports of connections that delivered a message, for :meth:`hang_up`.
        self._open: list[asyncio.BaseTransport] = []
        self._controller = Controller(_SinkHandler(self), hostname=self.host, port=self.port)

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        with self._lock:
            return [r.message for r in self.received]

    def clear(self) -> None:
        with self._lock:
            self.received.clear()
            self._refusals.clear()

    @property
    def connections(self) -> int:
        """How many connections the messages received so far came on."""
        with self._lock:
            return len({r.peer for r in self.received})

    def hang_up(self) -> None:
        """Close every connection that delivered a message, as a server's idle timeout does."""
        with self._lock:
            transports, self._open = self._open, []
        for transport in transports:
            self._controller.loop.call_soon_threadsafe(transport.close)
        # Blocking on purpose: the server's thread closes them meanwhile, but the caller's
        # event loop does not run, so a client still believes its connection open and
        # finds it gone only when it next sends (the race an idle timeout makes).
        time.sleep(0.2)

    def refuse_next(self, reply: str, times: int = 1) -> None:
        """Answer the next ``times`` RCPT commands with ``reply`` (e.g. ``550 5.1.1 unknown``)."""
        with self._lock:
            self._refusals.extend([reply] * times)

    def _next_refusal(self) -> str | None:
        with self._lock:
            return self._refusals.pop(0) if self._refusals else None

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[email.message.EmailMessage]:
        """Wait until at least ``count`` messages have arrived; returns all received."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            messages = self.messages
            if len(messages) >= count:
                return messages
            await asyncio.sleep(0.02)
        raise AssertionError(
            f"expected {count} messages within {timeout}s, got {len(self.messages)}"
        )


# --- GOV.UK Notify --------------------------------------------------------------------------

_ERROR_NAMES = {400: "BadRequestError", 403: "AuthError", 429: "RateLimitError"}


@dataclass(frozen=True)
class NotifyRequest:
    path: str
    body: dict[str, Any]
    issuer: str


class NotifyStandIn:
    """Just enough of the Notify API for the email sender, on a free local port.

    ``api_key`` is a key in Notify's format for this stand-in's service; requests signed with
    any other secret, for any other service, or with a stale ``iat`` get Notify's 403.
    """

    def __init__(self) -> None:
        self.service_id = str(uuid.uuid4())
        self.secret = str(uuid.uuid4())
        self.api_key = f"care_test-{self.service_id}-{self.secret}"
        self.requests: list[NotifyRequest] = []
        #: The client address and port of each request: one per connection used.
        self.peers: list[Any] = []
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> NotifyStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> NotifyStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` valid requests with ``status`` instead of sending."""
        with self._lock:
            self._failures.extend([status] * times)

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self.peers.clear()
            self._failures.clear()

    def _authorise(self, header: str | None) -> str | None:
        """The error message for a bad bearer token, or None when it is good."""
        if not header or not header.startswith("Bearer "):
            return "Unauthorized: authentication token must be provided"
        try:
            claims = jwt.decode(
                header.removeprefix("Bearer "),
                self.secret,
                algorithms=["HS256"],
                options={"require": ["iss", "iat"], "verify_iat": True},
                leeway=30,
            )
        except jwt.PyJWTError:
            return "Invalid token: signature, api token not found"
        if claims["iss"] != self.service_id:
            return "Invalid token: service not found"
        if abs(time.time() - int(claims["iat"])) > 30:
            return "Error: Your system clock must be accurate to within 30 seconds"
        return None

    def _answer(self, path: str, headers: Any, raw: bytes) -> tuple[int, dict[str, Any]]:
        if path != "/v2/notifications/email":
            return 404, _error(404, "Not found")
        problem = self._authorise(headers.get("Authorization"))
        if problem:
            return 403, _error(403, problem)
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, _error(400, "Invalid JSON supplied in POST data")
        missing = [k for k in ("email_address", "template_id") if k not in body]
        if missing:
            return 400, _error(400, f"{missing[0]} is a required property")
        with self._lock:
            self.requests.append(NotifyRequest(path, body, self.service_id))
            failure = self._failures.pop(0) if self._failures else None
        if failure:
            return failure, _error(failure, "failure requested by the test")
        notification_id = str(uuid.uuid4())
        values = body.get("personalisation") or {}
        return 201, {
            "id": notification_id,
            "reference": body.get("reference"),
            "content": {
                "subject": values.get("subject", ""),
                "body": values.get("body", ""),
                "from_email": "care.badges@notifications.service.gov.uk",
            },
            "uri": f"{self.base_url}/v2/notifications/{notification_id}",
            "template": {
                "id": body["template_id"],
                "version": 1,
                "uri": f"{self.base_url}/v2/template/{body['template_id']}",
            },
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            # Keeps connections open between requests, as Notify's servers do.
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with stand_in._lock:
                    stand_in.peers.append(self.client_address)
                status, answer = stand_in._answer(self.path, self.headers, raw)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the test asserts on what was recorded

        return Handler


def _error(status: int, message: str) -> dict[str, Any]:
    name = _ERROR_NAMES.get(status, "Exception" if status >= 500 else "BadRequestError")
    return {"errors": [{"error": name, "message": message}], "status_code": status}
