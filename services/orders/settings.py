"""Orders' settings, read from ``CARE_ORDERS_*`` environment variables."""

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class OrdersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CARE_ORDERS_", extra="ignore")

    service: str = "orders"
