"""Which transport sends email, read from ``CARE_EMAIL_*`` environment variables.

The defaults send to an SMTP catcher on 127.0.0.1:1025 (development). Production sets
``CARE_EMAIL_BACKEND=notify`` with ``CARE_EMAIL_NOTIFY_API_KEY`` (a secret) and
``CARE_EMAIL_NOTIFY_TEMPLATE_ID``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.email.message import EmailSender
from shared.email.notify import NOTIFY_URL, NotifySender
from shared.email.smtp import SmtpSender


class EmailSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CARE_EMAIL_", extra="ignore")

    backend: Literal["smtp", "notify"] = "smtp"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    #: Implicit TLS from the first byte (usually port 465); ``smtp_start_tls`` upgrades instead.
    smtp_use_tls: bool = False
    smtp_start_tls: bool = False
    smtp_username: str = ""
    smtp_password: str = Field("", repr=False)
    #: The From address of SMTP mail (Notify uses its service's own).
    sender_address: str = "care-badges@localhost"
    notify_api_key: str = Field("", repr=False)
    notify_template_id: str = ""
    notify_base_url: str = NOTIFY_URL
    #: Commits in the same process wake the relay; the poll finds retries falling due (5 s at
    #: the earliest) and rows other processes wrote (the staff CLI's invitations).
    relay_poll_seconds: float = Field(2.0, gt=0)
    max_attempts: int = Field(8, ge=1)


def sender_from_settings(settings: EmailSettings) -> EmailSender:
    """The configured sender; a Notify backend without its key or template fails here."""
    if settings.backend == "notify":
        missing = [
            f"CARE_EMAIL_{name.upper()}"
            for name in ("notify_api_key", "notify_template_id")
            if not getattr(settings, name)
        ]
        if missing:
            raise ValueError(f"CARE_EMAIL_BACKEND=notify needs {' and '.join(missing)} set")
        return NotifySender(
            settings.notify_api_key,
            settings.notify_template_id,
            base_url=settings.notify_base_url,
        )
    return SmtpSender(
        settings.smtp_host,
        settings.smtp_port,
        settings.sender_address,
        use_tls=settings.smtp_use_tls,
        start_tls=settings.smtp_start_tls,
        username=settings.smtp_username or None,
        password=settings.smtp_password or None,
    )
