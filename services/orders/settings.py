"""Orders' settings, read from ``CARE_ORDERS_*`` environment variables."""

from typing import Literal

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class OrdersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CARE_ORDERS_", extra="ignore")

    service: str = "orders"
    #: When the portal closes, orders not yet handed to the courier either go on to the end
    #: ("finish") or are cancelled at once ("cancel").
    in_flight_on_close: Literal["finish", "cancel"] = "finish"
