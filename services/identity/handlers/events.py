"""Identity's event handlers: each runs inside the consumer's transaction, after the inbox
claim."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.store import restrictions, subject_access
from shared.events import AccountHoldApplied, Envelope, SubjectDataProvided
from shared.runtime import Service


def register(service: Service) -> None:
    """Subscribe identity's handlers on ``service``."""

    @service.handles(SubjectDataProvided)
    async def subject_data_provided(
        session: AsyncSession, event: Envelope[SubjectDataProvided]
    ) -> None:
        """Keep each service's part of a subject access request until the copy is assembled."""
        payload = event.payload
        await subject_access.save_contribution(
            session, payload.request_id, payload.service, payload.data
        )

    @service.handles(AccountHoldApplied)
    async def hold_applied(session: AsyncSession, event: Envelope[AccountHoldApplied]) -> None:
        """Orders holds the account: the restriction request waiting on it can be answered."""
        await restrictions.applied(session, event.payload.account_id, event.payload.restriction_id)
