"""Sending through an SMTP relay (a local catcher in development, a mail relay elsewhere)."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
from email.charset import QP, Charset
from email.encoders import encode_base64
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart

import aiosmtplib

from shared.email.message import Attachment, EmailDeliveryError, EmailMessage, EmailRejected


def build_mime(message: EmailMessage, sender_address: str) -> Message:
    """The MIME message: a text/plain body and one part per attachment.

    Built with the email package's classic classes (``compat32``) rather than its modern
    ``EmailMessage``, whose header objects parse and refold every header: 2.9 against 0.8 ms
    of CPU to build and flatten an order's dispatch email, two emails per order on launch
    day. Both produce the same MIME structure; here the choices the modern API made itself
    are spelled out: the body is sent as it is (7bit) when it is ASCII in lines short enough
    for mail, quoted-printable otherwise, and a subject or file name beyond ASCII is encoded.
    """
    body = message.body if message.body.endswith("\n") else message.body + "\n"
    text = MIMENonMultipart("text", "plain")
    text.set_payload(body, _body_charset(body))
    mime: Message = text
    if message.attachments:
        mime = MIMEMultipart()
        mime.attach(text)
        for attachment in message.attachments:
            mime.attach(_attachment_part(attachment))
    mime["From"] = sender_address
    mime["To"] = message.to
    subject = message.subject
    mime["Subject"] = subject if subject.isascii() else Header(subject, "utf-8").encode()
    mime["Date"] = email.utils.formatdate(localtime=False)
    mime["Message-ID"] = email.utils.make_msgid(domain=sender_address.rpartition("@")[2] or None)
    return mime


#: Longest body line sent without encoding (RFC 5322 recommends 78).
_PLAIN_LINE = 78
_QUOTED_PRINTABLE = Charset("utf-8")
_QUOTED_PRINTABLE.body_encoding = QP
_AS_IT_IS = Charset("us-ascii")  # 7bit


def _body_charset(body: str) -> Charset:
    if body.isascii() and all(len(line) <= _PLAIN_LINE for line in body.splitlines()):
        return _AS_IT_IS
    return _QUOTED_PRINTABLE


def _attachment_part(attachment: Attachment) -> Message:
    maintype, _, subtype = attachment.content_type.partition("/")
    part = MIMEBase(maintype, subtype)
    part.set_payload(attachment.data)
    encode_base64(part)
    filename: str | tuple[str, str, str] = attachment.filename
    if not attachment.filename.isascii():
        filename = ("utf-8", "", attachment.filename)  # RFC 2231
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


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
    """Sends over one SMTP connection that it keeps open between messages.

    On launch day the relay sends two emails per order, tens a second: a connection per
    message cost a TCP (and, with TLS, a handshake) setup, a greeting, EHLO and QUIT for
    each, and a thread hop to look up this host's name. The connection is opened on the first
    send and reused; a refusal of one message leaves it usable (the envelope is reset), any
    other failure drops it. A server that closed it while idle is noticed before the next
    send, or by the send itself, which is then tried once more on a fresh connection (a
    message already accepted could go twice only if the server closed between accepting it
    and saying so, which the email outbox's at-least-once delivery allows anyway). After
    ``messages_per_connection`` messages the connection is closed and another opened, as
    mail relays limit how many one connection may carry.
    """

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
        messages_per_connection: int = 100,
    ) -> None:
        self.host = host
        self.port = port
        self.sender_address = sender_address
        self._use_tls = use_tls
        self._start_tls = start_tls
        self._username = username
        self._password = password
        self._timeout = timeout
        self._messages_per_connection = max(1, messages_per_connection)
        self._smtp: aiosmtplib.SMTP | None = None
        self._carried = 0
        #: One message at a time on the connection (SMTP is one conversation).
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SmtpSender({self.host!r}, {self.port})"

    async def send(self, message: EmailMessage) -> None:
        try:
            mime = build_mime(message, self.sender_address)
        except ValueError as exc:  # a header the email package refuses
            raise EmailRejected(f"mime:{type(exc).__name__}") from exc
        async with self._lock:
            reused = self._smtp is not None and self._smtp.is_connected
            try:
                try:
                    await self._send_once(mime, message.to)
                except _LOST:
                    if not reused:
                        raise
                    # The server closed the connection we kept (an idle timeout): once more.
                    await self._send_once(mime, message.to)
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise _classify(exc) from exc

    async def close(self) -> None:
        """Say goodbye to the server (at shutdown)."""
        async with self._lock:
            await self._drop(politely=True)

    async def _send_once(self, mime: Message, to: str) -> None:
        smtp = await self._connection()
        try:
            await smtp.send_message(mime, sender=self.sender_address, recipients=[to])
        except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
            # A reply refusing this message: the envelope was reset and the connection stays
            # (one the server closes with it, as with a 421, is replaced at the next send).
            raise
        except BaseException:
            await self._drop(politely=False)
            raise
        self._carried += 1
        if self._carried >= self._messages_per_connection:
            await self._drop(politely=True)

    async def _connection(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        await self._drop(politely=False)
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self._username,
            password=self._password,
            use_tls=self._use_tls,
            start_tls=self._start_tls,
            timeout=self._timeout,
        )
        await smtp.connect()
        self._smtp, self._carried = smtp, 0
        return smtp

    async def _drop(self, *, politely: bool) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        if politely and smtp.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit()
        smtp.close()


#: Failures that mean the connection is gone, not that this message was refused.
_LOST = (aiosmtplib.SMTPServerDisconnected, ConnectionError)
