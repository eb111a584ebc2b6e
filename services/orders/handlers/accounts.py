"""What identity tells orders about accounts (:mod:`services.orders.usecases.accounts`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.usecases import accounts
from shared.events import AccountDetailsCorrected, AccountRegistered, Envelope
from shared.runtime import Service


def register(service: Service) -> None:
    """Subscribe orders' account handlers on ``service``."""

    @service.handles(AccountRegistered)
    async def registered(session: AsyncSession, event: Envelope[AccountRegistered]) -> None:
        """Keep the account's kind and email, and its organisation and address; confirm
        the orders taken before it arrived. A first sign-in's locations come with it."""
        await accounts.account_registered(service, session, event.payload)

    @service.handles(AccountDetailsCorrected)
    async def corrected(session: AsyncSession, event: Envelope[AccountDetailsCorrected]) -> None:
        """The holder corrected their organisation, name or address: later orders use it
        (orders already placed keep theirs; customer services correct those)."""
        await accounts.details_corrected(session, event.payload)
