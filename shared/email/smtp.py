"""Sending through an SMTP relay (a local catcher in development, a mail relay elsewhere)."""

from __future__ import annotations

import email.message
import email.utils

import aiosmtplib

from shared.email.message import EmailDeliveryError, EmailMessage, EmailRejected


def build_mime(message: EmailMessage, sender_address: str) -> email.message.EmailMessage:
    """The MIME message: a text/plain body and one part per attachment."""
    mime = email.message.EmailMessage()
    mime["From"] = sender_address
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Date"] = email.utils.formatdate(localtime=False)
    mime["Message-ID"] = email.utils.make_msgid(domain=sender_address.rpartition("@")[2] or None)
    mime.set_content(message.body)
    for attachment in message.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        mime.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return mime


def _classify(exc: Exception) -> EmailDeliveryError | EmailRejected:
    """Permanent only when the server refused this message or its recipient (5xx).

    A refused sender, failed authentication or missing STARTTLS is our configuration, not
    the message: those retry (with backoff), so fixing the configuration lets them through.
    """
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        if codes and all(code >= 500 for code in codes):
            return EmailRejected(f"smtp:{codes[0]}")
        return EmailDeliveryError(f"smtp:{codes[0] if codes else 'recipients'}")
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        code = f"smtp:{exc.code}"
        return EmailRejected(code) if exc.code >= 500 else EmailDeliveryError(code)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return EmailDeliveryError(f"smtp:{exc.code}")
    return EmailDeliveryError(f"smtp:{type(exc).__name__}")


class SmtpSender:
    """Sends each message over its own SMTP connection (the volume is a few a minute)."""

    def __init__(
        self,
        host: str,
        port: int,
        sender_address: str,
        *,
        use_tls: bool = False,
        start_tls: bool | None = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10,
    ) -> None:
        self.host = host
        self.port = port
        self.sender_address = sender_address
        self._use_tls = use_tls
        self._start_tls = start_tls
        self._username = username
        self._password = password
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"SmtpSender({self.host!r}, {self.port})"

    async def send(self, message: EmailMessage) -> None:
        try:
            mime = build_mime(message, self.sender_address)
        except ValueError as exc:  # a header the email package refuses
            raise EmailRejected(f"mime:{type(exc).__name__}") from exc
        try:
            await aiosmtplib.send(
                mime,
                sender=self.sender_address,
                recipients=[message.to],
                hostname=self.host,
                port=self.port,
                use_tls=self._use_tls,
                start_tls=self._start_tls,
                username=self._username,
                password=self._password,
                timeout=self._timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise _classify(exc) from exc
