"""What the ordering API says when the holder's data may not be used (privacy policy)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.store import privacy
from shared.http.problems import Problem


async def refuse_if_held(session: AsyncSession, account_id: UUID) -> None:
    """Refuse a new order once the portal has closed, or for an account that is restricted
    or anonymised, saying why."""
    if await privacy.portal_closed(session):
        raise Problem(
            403,
            "portal-closed",
            "The CARE badges portal has closed",
            "Badges can no longer be ordered. Orders already placed are shown on your account.",
        )
    reason = await privacy.hold_on(session, account_id)
    if reason == privacy.RESTRICTED:
        raise Problem(
            403,
            "account-restricted",
            "You have restricted the use of your data",
            "We keep your data but do not use it while the restriction is in place, so no "
            "order can be placed. Lift the restriction from your account, or ask customer "
            "services to, and then place your order.",
        )
    if reason == privacy.ANONYMISED:
        raise Problem(
            403,
            "account-anonymised",
            "This account has been closed",
            "The account was disabled and its details removed at its holder's request.",
        )
