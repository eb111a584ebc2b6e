"""Email for the services: one message type, two transports, and an outbox that sends after commit.

Queue an email with :func:`queue_email` in the transaction that causes it; an
:class:`EmailRelay` attached to the service sends it once committed (see
:mod:`shared.email.outbox` for the guarantees). :func:`sender_from_settings` picks SMTP
(development: a local catcher) or GOV.UK Notify (see :mod:`shared.email.notify` for the
template it expects) from ``CARE_EMAIL_*`` settings.
"""

from shared.email.message import (
    Attachment,
    EmailDeliveryError,
    EmailError,
    EmailMessage,
    EmailRejected,
    EmailSender,
)
from shared.email.notify import NotifySender
from shared.email.outbox import (
    EmailRelay,
    email_outbox_table,
    queue_email,
    queue_emails,
    retry_delay,
)
from shared.email.settings import EmailSettings, sender_from_settings
from shared.email.smtp import SmtpSender

__all__ = [
    "Attachment",
    "EmailDeliveryError",
    "EmailError",
    "EmailMessage",
    "EmailRejected",
    "EmailRelay",
    "EmailSender",
    "EmailSettings",
    "NotifySender",
    "SmtpSender",
    "email_outbox_table",
    "queue_email",
    "queue_emails",
    "retry_delay",
    "sender_from_settings",
]
