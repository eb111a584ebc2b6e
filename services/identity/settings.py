"""Identity's settings, read from ``CARE_IDENTITY_*`` environment variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.email import EmailSettings
from shared.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CARE_IDENTITY_", extra="ignore")

    service: str = "identity"
    #: Ed25519 private key (PEM) that signs every token; only identity holds it. Empty is
    #: allowed so the register CLI can run without it; signing in then fails loudly.
    token_private_key: str = Field("", repr=False)
    #: Access tokens cannot be recalled once issued (every service verifies them alone), so
    #: they are short; the refresh token renews them and can be revoked.
    token_ttl_seconds: int = Field(300, gt=0, le=900)
    session_idle_minutes: int = Field(30, gt=0)
    session_absolute_hours: int = Field(12, gt=0)

    #: Failed sign-ins before the account is locked, then for how long (doubling to the cap).
    lockout_free_failures: int = Field(5, gt=0)
    lockout_first_seconds: int = Field(60, gt=0)
    lockout_max_seconds: int = Field(900, gt=0)
    #: Failed sign-ins one source address may make in a window, across every account (care
    #: homes share addresses behind one router, so this is generous).
    source_failure_limit: int = Field(100, gt=0)
    source_window_seconds: int = Field(900, gt=0)
    #: Password-reset emails one address may be sent in an hour.
    reset_requests_per_hour: int = Field(3, gt=0)
    #: Account-creation emails (a confirmation link, or "you already have an account") one
    #: address may be sent in an hour, so the form cannot flood an inbox.
    registration_emails_per_hour: int = Field(3, gt=0)
    reset_link_minutes: int = Field(30, gt=0)
    registration_link_hours: int = Field(24, gt=0)
    #: Every refused sign-in, reset or registration answers after at least this long, so the
    #: time taken does not say whether an account exists (argon2 alone takes ~25 ms).
    uniform_response_seconds: float = Field(0.25, ge=0)
    #: Proxies whose X-Forwarded-For is believed (the public site's servers, a load balancer).
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1"])
    #: How long a restriction request waits for orders to confirm that no new order can be
    #: placed (AccountHoldApplied) before answering 202 instead of 204 (ADR 0061).
    restriction_confirm_seconds: float = Field(10.0, gt=0)
    #: Where emailed links point: the public site's pages.
    public_site_url: str = "http://127.0.0.1:8002"
    #: Where each staff role works, sets its password and signs in: customer services on the
    #: back office; DHSC analysts and operations on the MI pages. A staff member's invitation
    #: and reset links point there, never at the public site (issue 16, item 8).
    staff_site_urls: dict[str, str] = Field(
        default_factory=lambda: {
            "customer_service": "http://127.0.0.1:8003",
            "dhsc_analyst": "http://127.0.0.1:8005",
            "operations": "http://127.0.0.1:8005",
        }
    )

    def site_for(self, role: str) -> str:
        """The base address of the pages this role uses (the public site for providers)."""
        return self.staff_site_urls.get(role, self.public_site_url).rstrip("/")

    email: EmailSettings = Field(default_factory=EmailSettings)
