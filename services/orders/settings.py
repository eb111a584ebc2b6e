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
    # --- the site's waiting room (ADR 0052) -----------------------------------------------
    #: At most this many visitors in the order journey (sign in, create an account, the order
    #: pages) at once; the rest queue first come, first served. Size it from measured capacity:
    #: sustained orders/s x the median visit in seconds (about 8/s x 2 minutes on two cores,
    #: bench/README.md), per deployment, not per replica. 0 turns the waiting room off.
    waiting_room_limit: int = Field(1000, ge=0)
    #: At most this many visitors let in per second (smooths the sign-in burst to the rate the
    #: platform sustains, measured by the capacity benchmark); 0 for no rate limit.
    waiting_room_admit_per_second: float = Field(8.0, ge=0)
    #: A visitor let in who makes no request in the journey for this long has left.
    waiting_room_admitted_idle_minutes: float = Field(15.0, gt=0)
    #: A waiting visitor whose page has not checked in for this long has left. At least a
    #: minute: the page looks again within half of it and never sooner than every 5 s, so a
    #: shorter limit would drop visitors whose page was doing what it says.
    waiting_room_waiting_idle_minutes: float = Field(10.0, ge=1.0)
    #: How often each replica times out the quiet, lets in the next and measures the queue.
    waiting_room_tick_seconds: float = Field(2.0, gt=0)
    #: A visitor's place is confirmed in the database at most this often (cached in the
    #: session in between), so a page in the journey costs no extra round trip.
    waiting_room_heartbeat_seconds: float = Field(60.0, gt=0)
