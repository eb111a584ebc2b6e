"""Sending through GOV.UK Notify, with one generic email template.

Notify sends only from templates, so every message goes through one template set up in Notify
like this (the names in double brackets are Notify placeholders):

- subject: ``((subject))``
- message: ``((body))`` then, on a line of its own, ``((link_to_file))``

We always send all three personalisation values. ``link_to_file`` is the message's first
attachment, uploaded with :func:`notifications_python_client.prepare_upload` (Notify turns it
into a download link), or an empty string when there is none: Notify refuses a send that
leaves a placeholder without a value, and an empty value renders as nothing. Notify's upload
takes at most 2 MB and a short list of file types (PDF, CSV, text, Word ...); it refuses
others with a 400, which we treat as a rejection like any other 4xx.

Notify sets the From address itself (the service's own), so ``sender_address`` is unused here.

The official client is synchronous and, by its own account, not thread-safe. Each sender
keeps one client in one thread of its own and sends there, so the event loop never waits on
the network and the client is never used from two threads. The one client keeps its HTTPS
connection to Notify open between emails: building a client per email, as this did before,
cost a TCP connection and a TLS handshake for each of the two emails of every order.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import io
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from notifications_python_client.errors import APIError
from notifications_python_client.notifications import NotificationsAPIClient
from notifications_python_client.utils import prepare_upload

from shared.email.message import EmailDeliveryError, EmailMessage, EmailRejected
from shared.logging import get_logger

log = get_logger(__name__)
# The client logs each failed request with Notify's error text, which can quote what it was
# sent; our own log line (id and outcome) is enough.
logging.getLogger("notifications_python_client").setLevel(logging.ERROR)

NOTIFY_URL = "https://api.notifications.service.gov.uk"

#: Statuses worth trying again. 401/403 mean our key is wrong or revoked: a configuration
#: fault that every message would hit, so those retry too instead of condemning each message.
_TRANSIENT_4XX = frozenset({401, 403, 408, 429})


def personalisation(message: EmailMessage) -> dict[str, Any]:
    """The template's values for ``message`` (see the module docstring for the template)."""
    if len(message.attachments) > 1:
        raise EmailRejected("notify:too-many-attachments")
    link_to_file: Any = ""
    if message.attachments:
        attachment = message.attachments[0]
        try:
            # prepare_upload reads a file-like object, not bytes.
            link_to_file = prepare_upload(  # type: ignore[no-untyped-call]
                io.BytesIO(attachment.data), filename=attachment.filename
            )
        except ValueError as exc:  # larger than Notify's 2 MB
            raise EmailRejected("notify:file-too-large") from exc
    return {"subject": message.subject, "body": message.body, "link_to_file": link_to_file}


def _check_api_key(api_key: str) -> None:
    """Notify keys are ``{key_name}-{service_id}-{secret_key}``, the last two UUIDs."""
    try:
        uuid.UUID(api_key[-73:-37])
        uuid.UUID(api_key[-36:])
        ok = len(api_key) >= 75 and api_key[-74] == "-" and api_key[-37] == "-"
    except ValueError:
        ok = False
    if not ok:
        raise ValueError("the Notify API key is not of the form {key_name}-{service_id}-{secret}")


class NotifySender:
    def __init__(
        self,
        api_key: str,
        template_id: str,
        *,
        base_url: str = NOTIFY_URL,
        timeout: float = 10,
    ) -> None:
        _check_api_key(api_key)
        self._api_key = api_key
        self.template_id = template_id
        self.base_url = base_url
        self._timeout = timeout
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="notify")
        #: Built in the sender's thread on first use, and only ever used there.
        self._client: NotificationsAPIClient | None = None

    def __repr__(self) -> str:
        return f"NotifySender(template_id={self.template_id!r}, base_url={self.base_url!r})"

    async def send(self, message: EmailMessage) -> None:
        values = personalisation(message)
        await self._in_thread(self._send, message.to, values)

    async def close(self) -> None:
        """Close the kept connection and let the sender's thread end (once: a relay stopped
        twice closes twice)."""
        if self._client is not None:
            await self._in_thread(self._close_client)
        self._thread.shutdown(wait=False)

    async def _in_thread(self, call: Callable[..., None], *args: Any) -> None:
        # As asyncio.to_thread does: the call sees this task's context (its log fields).
        run = functools.partial(contextvars.copy_context().run, call, *args)
        await asyncio.get_running_loop().run_in_executor(self._thread, run)

    def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.request_session.close()

    def _send(self, email_address: str, values: dict[str, Any]) -> None:
        if self._client is None:
            self._client = NotificationsAPIClient(  # type: ignore[no-untyped-call]
                self._api_key, base_url=self.base_url, timeout=self._timeout
            )
        client = self._client
        try:
            response = client.send_email_notification(  # type: ignore[no-untyped-call]
                email_address=email_address, template_id=self.template_id, personalisation=values
            )
        except APIError as exc:
            status = exc.status_code  # 503 when no response came back at all
            code = f"notify:{status}"
            if status >= 500 or status in _TRANSIENT_4XX:
                raise EmailDeliveryError(code) from exc
            if 400 <= status < 500:
                raise EmailRejected(code) from exc
            # A 2xx whose body was not JSON: Notify has accepted the message, so sending it
            # again would deliver it twice.
            log.warning("notify accepted an email with an unreadable answer", status=status)
            return
        if isinstance(response, dict) and "id" in response:
            log.debug("notify accepted an email", notification_id=str(response["id"]))
