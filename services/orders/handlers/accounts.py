"""What identity tells orders about accounts: who registered (with the address a non-CQC
account's badges go to and the email every account's order emails go to), and corrections.

An anonymised account's details are never stored again, even if a registration or
correction for it arrives late (events on different queues keep no order between them).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.handlers import awaiting as awaiting_orders
from services.orders.store import accounts, awaiting, privacy
from shared.events import AccountDetailsCorrected, AccountRegistered, Envelope
from shared.runtime import Service


def register(service: Service) -> None:
    """Subscribe orders' account handlers on ``service``."""

    @service.handles(AccountRegistered)
    async def registered(session: AsyncSession, event: Envelope[AccountRegistered]) -> None:
        """Keep the account's kind and email, and its organisation and address; confirm
        the orders taken before it arrived."""
        payload = event.payload
        await awaiting.lock_for_change(session, payload.account_id)
        if await privacy.hold_on(session, payload.account_id) == privacy.ANONYMISED:
            return
        await accounts.save_registration(
            session,
            payload.account_id,
            {
                "kind": payload.kind.value,
                "email": payload.email,
                "organisation_name": payload.organisation_name,
                "contact_name": payload.contact_name,
                "address_line_1": payload.address_line_1,
                "address_line_2": payload.address_line_2,
                "city": payload.city,
                "postcode": payload.postcode,
            },
        )
        if payload.email:
            await awaiting_orders.email_known(session, payload.account_id, payload.email)

    @service.handles(AccountDetailsCorrected)
    async def corrected(session: AsyncSession, event: Envelope[AccountDetailsCorrected]) -> None:
        """The holder corrected their organisation, name or address: later orders use it
        (orders already placed keep theirs; customer services correct those)."""
        payload = event.payload
        if await privacy.hold_on(session, payload.account_id) == privacy.ANONYMISED:
            return
        await accounts.save_correction(
            session,
            payload.account_id,
            payload.model_dump(
                include={
                    "organisation_name",
                    "contact_name",
                    "address_line_1",
                    "address_line_2",
                    "city",
                    "postcode",
                }
            ),
        )
