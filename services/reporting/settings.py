"""Reporting's settings, read from ``CARE_REPORTING_*`` environment variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CARE_REPORTING_", extra="ignore")

    service: str = "reporting"
    #: Like every service, one consumer worker that waits before each transaction; reporting
    #: waits a tenth of a second. It takes about five deliveries per order, every one moving
    #: the same counter rows, and its figures may trail by that much.
    consumer_linger_seconds: float = 0.1
    #: Counts below this are shown as suppressed, so no figure singles out an organisation.
    suppression_threshold: int = Field(5, ge=1)
    #: Every other figure about orders is shown rounded to the nearest multiple of this, so a
    #: suppressed one cannot be worked out by subtraction (ADR 0028). 1 turns rounding off.
    rounding_base: int = Field(10, ge=1)
    #: The adult social care workforce in England the badges are for (Skills for Care's
    #: estimate): the denominator of "share of the workforce reached".
    workforce_estimate: int = Field(1_500_000, gt=0)
    #: How long after an order settles (delivered, rejected or cancelled) its id stays linked
    #: to reporting's own number for it, to place late or repeated events; then it is erased.
    order_id_retention_days: float = Field(30.0, ge=0)
    #: How often the erasure above runs while the service is up.
    housekeeping_interval_seconds: float = Field(3600.0, gt=0)
    #: Identity's base URL: analysts and operations sign in to the MI page through it.
    identity_url: str = "http://127.0.0.1:8001"
    #: Seconds to wait for identity before asking the member of staff to try again.
    identity_timeout_seconds: float = Field(10.0, gt=0)
    #: A member of staff's page session ends after this long without a request.
    session_idle_minutes: float = Field(30.0, gt=0)
    #: Cookies are Secure; browsers accept them on http://127.0.0.1 and localhost as well.
    secure_cookies: bool = True
