"""How long a sign-in lasts (OWASP ASVS V3.3).

Access tokens are verified by every service without asking identity, so they cannot be
recalled: they live five minutes. The refresh token that renews them lives in identity's
database, where sign-out, a password reset, disabling or anonymising the account revokes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class SessionPolicy:
    access_ttl: timedelta = timedelta(minutes=5)
    #: Unused for this long and the session ends (ASVS 3.3.2 L1 allows 30 days; a shared
    #: office computer argues for much less).
    idle_timeout: timedelta = timedelta(minutes=30)
    #: However active, a session ends after this long (ASVS 3.3.2 L2: 12 hours).
    absolute_timeout: timedelta = timedelta(hours=12)

    def expires_at(self, opened_at: datetime) -> datetime:
        return opened_at + self.absolute_timeout

    def still_live(self, *, last_used_at: datetime, expires_at: datetime, now: datetime) -> bool:
        return now < expires_at and now - last_used_at <= self.idle_timeout


class RevokedBecause:
    """Why a session ended, recorded on the session row and in the audit trail."""

    SIGNED_OUT = "signed_out"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a reason, not a password
    DISABLED = "account_disabled"
    ANONYMISED = "account_anonymised"
    REFRESH_REUSED = "refresh_reused"
