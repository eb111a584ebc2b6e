"""An order's progress as the other services report it: each step goes on its timeline and
moves its status forward (never back: events arrive in any order), and a dispatch emails the
poster. Each runs in the consumer's transaction (the handler's session), once per event: a
step is one statement (repository.record_status), a dispatch's with its email too."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.domain import emails
from services.orders.domain.order import Status
from services.orders.store import privacy, repository
from shared.email.outbox import emails_written
from shared.events import Delivery
from shared.logging import get_logger

log = get_logger(__name__)


async def record_step(
    session: AsyncSession, order_id: UUID, status: Status, occurred_at: datetime, detail: str
) -> None:
    """A step on the order's timeline, with what the user is shown beside it."""
    known = await repository.record_status(session, order_id, status, occurred_at, detail)
    if not known:
        log.warning("status event for an unknown order", status=status.value)


async def dispatched(
    session: AsyncSession, order_id: UUID, shipment: str, occurred_at: datetime
) -> None:
    """The parcels are with the courier: a timeline step, and the email with the poster, in
    one statement (the email's recipient and reference are read with the order)."""
    template = emails.dispatched_template(shipment)
    row = await repository.record_dispatch(
        session, order_id, occurred_at, shipment, template, emails.REFERENCE_SLOT
    )
    if row is None:
        log.warning("status event for an unknown order", status=Status.DISPATCHED.value)
        return
    if row.email_id is not None and row.notify_email:
        sent = emails.filled(template, row.notify_email, row.reference)
        emails_written(session, [row.email_id], [sent])


async def delivery_changed(session: AsyncSession, order_id: UUID, delivery: Delivery) -> None:
    """Customer services corrected the delivery address (FAQ 13): the order shows it."""
    await privacy.set_delivery(session, order_id, delivery.model_dump())
