"""What an email is, what sends one, and the two ways sending fails.

A sender either returns (the message was handed over for delivery), raises
:class:`EmailDeliveryError` (a passing fault: try again later) or :class:`EmailRejected` (this
message will never go as it is: trying again would only repeat the refusal).

Exceptions carry a short ``code`` built by our own code from error class names and status
codes (``smtp:550``, ``notify:400``), never a server's text, which may quote the address. That
code is all the email outbox records about a failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

#: One bare address (no display name, no list): anything that could add a recipient or a
#: header is refused before it reaches a transport.
_ADDRESS = re.compile(r"[^@\s,;:<>()\[\]\"\\]+@[^@\s,;:<>()\[\]\"\\]+")


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes

    def __post_init__(self) -> None:
        if "/" not in self.content_type or any(c in self.filename for c in "\r\n/\\"):
            raise ValueError("an attachment needs a type/subtype and a plain file name")


@dataclass(frozen=True)
class EmailMessage:
    """One plain-text email to one recipient."""

    to: str
    subject: str
    body: str
    attachments: tuple[Attachment, ...] = ()

    def __post_init__(self) -> None:
        # Messages never quote the values: they are personal data and may reach a log.
        if not _ADDRESS.fullmatch(self.to):
            raise ValueError("the recipient must be one bare email address")
        if "\r" in self.subject or "\n" in self.subject:
            raise ValueError("the subject must be one line")


class EmailError(Exception):
    """A failed send. ``code`` is safe to log and store; the message text is not."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class EmailDeliveryError(EmailError):
    """A transient failure (connection, timeout, 4xx SMTP reply, Notify 429 or 5xx)."""


class EmailRejected(EmailError):
    """A permanent refusal of this message (unknown mailbox, invalid address, bad file)."""


class EmailSender(Protocol):
    async def send(self, message: EmailMessage) -> None:
        """Hand ``message`` over for delivery, or raise an :class:`EmailError`."""
        ...

    async def close(self) -> None:
        """Let go of any connection kept between sends (the relay stops)."""
        ...
