"""Reporting's settings, read from ``CARE_REPORTING_*`` environment variables."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CARE_REPORTING_", extra="ignore")

    service: str = "reporting"
    #: Counts below this are shown as suppressed, so no figure singles out an organisation.
    suppression_threshold: int = 5
