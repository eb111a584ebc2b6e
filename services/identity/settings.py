"""Identity's settings, read from ``CARE_IDENTITY_*`` environment variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CARE_IDENTITY_", extra="ignore")

    service: str = "identity"
    #: Ed25519 private key (PEM) that signs every token; only identity holds it. Empty is
    #: allowed so the register CLI can run without it; signing in then fails loudly.
    token_private_key: str = Field("", repr=False)
    token_ttl_seconds: int = Field(900, gt=0)
