"""Verification's settings, read from ``CARE_VERIFICATION_*`` environment variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class VerificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CARE_VERIFICATION_", extra="ignore")

    service: str = "verification"
    #: A care home's order is referred above this many badges per registered bed. Care homes
    #: employ roughly 1 to 1.5 staff per bed (nursing homes more); 2.5 leaves room for
    #: part-time staff while still catching an order far above what the register suggests.
    max_badges_per_bed: float = 2.5
    #: A location with no registered beds (home care, supported living, a hospice, a community
    #: service) is referred above this many badges: the most the bed rule ever lets through
    #: for one location of the register (120 beds at 2.5 a bed). ADR 0062 has the figures.
    max_badges_without_beds: int = Field(300, gt=0)
    #: Ceilings for particular inspection categories, by the register's name for them
    #: (JSON, e.g. {"Hospice services": 250}); others use ``max_badges_without_beds``.
    max_badges_by_category: dict[str, int] = Field(default_factory=dict)
    #: Non-CQC orders above this size also get the address and phone check (privacy policy).
    manual_check_threshold: int = 25
    #: How alike two organisation names must be (0 to 1, after dropping case, punctuation and
    #: "Ltd"-style suffixes) for orders at the same postcode through two accounts to be
    #: referred as probably one organisation. 0.85 catches "St Anne's Care Home Ltd" against
    #: "St Annes Care Home" and a typo or two, not "Oak House" against "Elm House". A false
    #: match only sends an order to a person.
    similar_name_ratio: float = Field(0.85, gt=0, le=1)
    #: Identity's base URL: the back office disables and anonymises accounts through its API.
    identity_url: str = "http://127.0.0.1:8001"
    #: Seconds to wait for identity before telling the reviewer to try again.
    identity_timeout_seconds: float = Field(10.0, gt=0)
    #: A reviewer's page session ends after this long without a request.
    session_idle_minutes: float = Field(30.0, gt=0)
    #: Cookies are Secure; browsers accept them on http://127.0.0.1 and localhost as well.
    secure_cookies: bool = True
