"""Orders' part in the holder's rights: a copy of what it holds, and deletion.

Runs inside the consumer's transaction, after the inbox claim, like every handler.
"""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.domain.order import Status
from services.orders.settings import OrdersSettings
from services.orders.store import accounts, awaiting, privacy, repository
from services.orders.store.tables import (
    authorised_locations,
    email_outbox,
    orders,
    status_history,
)
from shared.events import (
    AccountAnonymised,
    AccountHoldApplied,
    AccountRestricted,
    AccountRestrictionLifted,
    Envelope,
    OrderCancelled,
    PortalClosed,
)
from shared.runtime import Service
from shared.store.forget import forget_emails_to, forget_published_events
from shared.subject_access import answer_requests

ANONYMISED = "[anonymised]"
PORTAL_CLOSED = "The CARE badges portal closed before the order was sent."


def register(service: Service, settings: OrdersSettings) -> None:
    """Subscribe orders' privacy handlers on ``service``."""

    @service.handles(AccountAnonymised)
    async def anonymised(session: AsyncSession, event: Envelope[AccountAnonymised]) -> None:
        """Scrub the account's personal data: contact name, delivery address, the email its
        confirmations went to, the details it registered with, and the words
        a reviewer wrote beside its orders' steps (a refusal's reason may name someone); and
        any email to it not yet sent."""
        account_id = event.payload.account_id
        await awaiting.lock_for_change(session, account_id)
        await awaiting.forget_account(session, account_id)
        for address in await privacy.email_addresses(session, account_id):
            await forget_emails_to(session, email_outbox, address)
        await session.execute(
            update(orders)
            .where(orders.c.account_id == account_id)
            .values(delivery={"recipient_name": ANONYMISED, "anonymised": True}, notify_email=None)
        )
        await session.execute(
            update(status_history)
            .where(status_history.c.order_id.in_(privacy.account_orders(account_id)))
            .values(detail="")
        )
        await session.execute(
            delete(authorised_locations).where(authorised_locations.c.account_id == account_id)
        )
        await accounts.forget(session, account_id)
        await forget_published_events(session, service.outbox_table, [str(account_id)])
        await privacy.hold(session, account_id, privacy.ANONYMISED)

    @service.handles(AccountRestricted)
    async def restricted(session: AsyncSession, event: Envelope[AccountRestricted]) -> None:
        """The holder restricted or objected to the use of their data: no new orders. The
        account's lock waits for orders being placed now, and new ones see the hold."""
        payload = event.payload
        await awaiting.lock_for_change(session, payload.account_id)
        await privacy.hold(session, payload.account_id, privacy.RESTRICTED)
        if payload.restriction_id is not None:
            await service.emit(
                session,
                AccountHoldApplied(
                    account_id=payload.account_id, restriction_id=payload.restriction_id
                ),
                event.correlation_id,
            )

    @service.handles(AccountRestrictionLifted)
    async def lifted(session: AsyncSession, event: Envelope[AccountRestrictionLifted]) -> None:
        """The restriction is lifted: the account may order again."""
        await privacy.release(session, event.payload.account_id)

    @service.handles(PortalClosed)
    async def portal_closed(session: AsyncSession, event: Envelope[PortalClosed]) -> None:
        """No new orders; orders not yet with the courier finish or are cancelled."""
        await privacy.close_portal(session, event.payload.closed_at)
        if settings.in_flight_on_close != "cancel":
            return
        for order_id in await privacy.orders_in_flight(session):
            await repository.record_status(
                session, order_id, Status.CANCELLED, event.occurred_at, PORTAL_CLOSED
            )
            await service.emit(session, OrderCancelled(order_id=order_id), event.correlation_id)

    answer_requests(service, privacy.held_about)
