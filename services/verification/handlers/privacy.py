"""Verification's part in the holder's rights: a copy of what it holds (right 1) and their
corrections reaching what reviewers see (right 2)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.verification.store import privacy
from services.verification.usecases import accounts
from shared.events import AccountDetailsCorrected, Envelope
from shared.runtime import Service
from shared.subject_access import answer_requests


def register(service: Service) -> None:
    """Subscribe verification's privacy handlers on ``service``."""
    answer_requests(service, privacy.held_about)

    @service.handles(AccountDetailsCorrected)
    async def corrected(session: AsyncSession, event: Envelope[AccountDetailsCorrected]) -> None:
        """Reviewers see the organisation and postcode as the holder corrected them."""
        await accounts.correct(session, event.payload)
