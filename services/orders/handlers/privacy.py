"""Orders' part in the holder's rights: a copy of what it holds, and deletion.

Runs inside the consumer's transaction, after the inbox claim, like every handler.
"""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.store import privacy
from services.orders.store.tables import authorised_locations, orders, status_history
from shared.events import AccountAnonymised, Envelope
from shared.runtime import Service
from shared.store.forget import forget_published_events
from shared.subject_access import answer_requests

ANONYMISED = "[anonymised]"


def register(service: Service) -> None:
    """Subscribe orders' privacy handlers on ``service``."""

    @service.handles(AccountAnonymised)
    async def anonymised(session: AsyncSession, event: Envelope[AccountAnonymised]) -> None:
        """Scrub the account's personal data: contact name, delivery address, and the words
        a reviewer wrote beside its orders' steps (a refusal's reason may name someone)."""
        account_id = event.payload.account_id
        await session.execute(
            update(orders)
            .where(orders.c.account_id == account_id)
            .values(delivery={"recipient_name": ANONYMISED, "anonymised": True})
        )
        await session.execute(
            update(status_history)
            .where(status_history.c.order_id.in_(privacy.account_orders(account_id)))
            .values(detail="")
        )
        await session.execute(
            delete(authorised_locations).where(authorised_locations.c.account_id == account_id)
        )
        await forget_published_events(session, service.outbox_table, [str(account_id)])

    answer_requests(service, privacy.held_about)
