"""Orders' part in the holder's rights and the portal's closure
(:mod:`services.orders.usecases.privacy`), and a copy of what orders holds about an account.

Runs inside the consumer's transaction, after the inbox claim, like every handler.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.settings import OrdersSettings
from services.orders.store.privacy import held_about
from services.orders.usecases import privacy
from shared.events import (
    AccountAnonymised,
    AccountRestricted,
    AccountRestrictionLifted,
    Envelope,
    PortalClosed,
)
from shared.runtime import Service
from shared.subject_access import answer_requests


def register(service: Service, settings: OrdersSettings) -> None:
    """Subscribe orders' privacy handlers on ``service``."""

    @service.handles(AccountAnonymised)
    async def anonymised(session: AsyncSession, event: Envelope[AccountAnonymised]) -> None:
        """Scrub the account's personal data: contact name, delivery address, the email its
        confirmations went to, the details it registered with, and the words
        a reviewer wrote beside its orders' steps (a refusal's reason may name someone); and
        any email to it not yet sent."""
        await privacy.anonymise(service, session, event.payload.account_id)

    @service.handles(AccountRestricted)
    async def restricted(session: AsyncSession, event: Envelope[AccountRestricted]) -> None:
        """The holder restricted or objected to the use of their data: no new orders. The
        account's lock waits for orders being placed now, and new ones see the hold."""
        payload = event.payload
        await privacy.restrict(
            service, session, payload.account_id, payload.restriction_id, event.correlation_id
        )

    @service.handles(AccountRestrictionLifted)
    async def lifted(session: AsyncSession, event: Envelope[AccountRestrictionLifted]) -> None:
        """The restriction is lifted: the account may order again."""
        await privacy.lift_restriction(session, event.payload.account_id)

    @service.handles(PortalClosed)
    async def portal_closed(session: AsyncSession, event: Envelope[PortalClosed]) -> None:
        """No new orders; orders not yet with the courier finish or are cancelled."""
        await privacy.close_portal(
            service,
            session,
            event.payload.closed_at,
            event.occurred_at,
            cancel_in_flight=settings.in_flight_on_close == "cancel",
            correlation_id=event.correlation_id,
        )

    answer_requests(service, held_about)
