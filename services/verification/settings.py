"""Verification's settings, read from ``CARE_VERIFICATION_*`` environment variables."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class VerificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CARE_VERIFICATION_", extra="ignore")

    service: str = "verification"
    #: A care home's order is referred above this many badges per registered bed. Care homes
    #: employ roughly 1 to 1.5 staff per bed (nursing homes more); 2.5 leaves room for
    #: part-time staff while still catching an order far above what the register suggests.
    max_badges_per_bed: float = 2.5
    #: Non-CQC orders above this size also get the address and phone check (privacy policy).
    manual_check_threshold: int = 25
