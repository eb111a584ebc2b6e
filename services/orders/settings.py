"""Orders' settings, read from ``CARE_ORDERS_*`` environment variables."""

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.email import EmailSettings
from shared.settings import ServiceSettings


class OrdersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CARE_ORDERS_", extra="ignore")

    service: str = "orders"
    #: Identity's JSON API, which the site's sign-in and account pages call.
    identity_url: str = "http://127.0.0.1:8001"
    #: A site session ends after this long without a request (GOV.UK's usual 30 minutes).
    session_idle_minutes: float = 30.0
    #: Cookies are Secure; browsers accept them on http://127.0.0.1 and localhost as well.
    secure_cookies: bool = True
    #: How the confirmation and dispatch emails are sent (``CARE_EMAIL_*``).
    email: EmailSettings = Field(default_factory=EmailSettings)
    #: When the portal closes, orders not yet handed to the courier either go on to the end
    #: ("finish") or are cancelled at once ("cancel").
    in_flight_on_close: Literal["finish", "cancel"] = "finish"
