"""Verification's part in the holder's rights: a copy of what it holds (right 1) and their
corrections reaching what reviewers see (right 2)."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from services.verification.store import privacy
from services.verification.store.tables import accounts
from shared.events import AccountDetailsCorrected, Envelope
from shared.runtime import Service
from shared.subject_access import answer_requests


def register(service: Service) -> None:
    """Subscribe verification's privacy handlers on ``service``."""
    answer_requests(service, privacy.held_about)

    @service.handles(AccountDetailsCorrected)
    async def corrected(session: AsyncSession, event: Envelope[AccountDetailsCorrected]) -> None:
        """Reviewers see the organisation and postcode as the holder corrected them."""
        p = event.payload
        await session.execute(
            update(accounts)
            .where(accounts.c.account_id == p.account_id, accounts.c.email.is_not(None))
            .values(
                organisation_name=p.organisation_name,
                postcode=p.postcode,
                **({"phone": p.phone} if p.phone else {}),
            )
        )
