"""Dispatch's part in the holder's rights: a copy of what it holds, and parcels held back
while the holder restricts the use of their data (privacy policy, rights 1, 3 and 4)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.store.privacy import held_about
from services.dispatch.usecases.privacy import Privacy
from shared.events import AccountRestricted, AccountRestrictionLifted, Envelope
from shared.runtime import Service
from shared.subject_access import answer_requests


def register(service: Service) -> None:
    """Subscribe dispatch's privacy handlers on ``service``."""
    answer_requests(service, held_about)
    privacy = Privacy(service)

    @service.handles(AccountRestricted)
    async def restricted(session: AsyncSession, event: Envelope[AccountRestricted]) -> None:
        """Hold back the account's parcels: its data is kept but not used."""
        await privacy.account_restricted(session, event.payload.account_id)

    @service.handles(AccountRestrictionLifted)
    async def lifted(session: AsyncSession, event: Envelope[AccountRestrictionLifted]) -> None:
        """Send what was held back."""
        await privacy.restriction_lifted(session, event.payload.account_id, event.correlation_id)
