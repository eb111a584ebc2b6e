"""Orders' part in the holder's rights and the portal's closure: anonymising an account,
holding back its orders while its data's use is restricted, and closing the portal.

Each runs in the consumer's transaction (the handler's session), after the inbox claim.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.domain.order import Status
from services.orders.store import accounts, awaiting, privacy, repository
from services.orders.store.tables import email_outbox
from shared.events import AccountHoldApplied, OrderCancelled
from shared.runtime import Service
from shared.store.forget import forget_emails_to

PORTAL_CLOSED = "The CARE badges portal closed before the order was sent."


async def anonymise(service: Service, session: AsyncSession, account_id: UUID) -> None:
    """Scrub the account's personal data: contact name, delivery address, the email its
    confirmations went to, the details it registered with, and the words a reviewer wrote
    beside its orders' steps (a refusal's reason may name someone); and any email to it not
    yet sent. No order may use the account again."""
    await awaiting.lock_for_change(session, account_id)
    await awaiting.forget_account(session, account_id)
    for address in await privacy.email_addresses(session, account_id):
        await forget_emails_to(session, email_outbox, address)
    await privacy.scrub_orders(session, account_id)
    await accounts.forget(session, account_id)
    await service.forget_published(session, [str(account_id)])
    await privacy.hold(session, account_id, privacy.ANONYMISED)


async def restrict(
    service: Service,
    session: AsyncSession,
    account_id: UUID,
    restriction_id: UUID | None,
    correlation_id: str,
) -> None:
    """The holder restricted or objected to the use of their data: no new orders. The
    account's lock waits for orders being placed now, and new ones see the hold; identity
    hears that the hold is in place (``restriction_id``) so it can confirm the restriction."""
    await awaiting.lock_for_change(session, account_id)
    await privacy.hold(session, account_id, privacy.RESTRICTED)
    if restriction_id is not None:
        await service.emit(
            session,
            AccountHoldApplied(account_id=account_id, restriction_id=restriction_id),
            correlation_id,
        )


async def lift_restriction(session: AsyncSession, account_id: UUID) -> None:
    """The restriction is lifted: the account may order again (an anonymised one never)."""
    await privacy.release(session, account_id)


async def close_portal(
    service: Service,
    session: AsyncSession,
    closed_at: datetime,
    occurred_at: datetime,
    cancel_in_flight: bool,
    correlation_id: str,
) -> None:
    """No new orders; orders not yet with the courier finish, or are cancelled if the
    settings say so."""
    await privacy.close_portal(session, closed_at)
    if not cancel_in_flight:
        return
    for order_id in await privacy.orders_in_flight(session):
        await repository.record_status(
            session, order_id, Status.CANCELLED, occurred_at, PORTAL_CLOSED
        )
        await service.emit(session, OrderCancelled(order_id=order_id), correlation_id)
