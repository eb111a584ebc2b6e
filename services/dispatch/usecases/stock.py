"""The warehouse's stock as operations keep it: deliveries received, stock-take corrections,
and the report that checks every balance against its ledger each time it is shown, so a
discrepancy is visible rather than hidden in a counter.

Badges are rationed (reserved first come first served), so badges received or found go to
whoever waits at once; leaflets are counted as parcels take them (ADR 0013).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain.stock import BADGE, ITEMS, Balance
from services.dispatch.store import ledger, placements
from services.dispatch.store.ledger import LedgerCheck, StockConflict
from services.dispatch.store.placements import WaitlistSize
from services.dispatch.usecases.fulfilment import Fulfilment
from shared.events import StockReceived
from shared.logging import get_logger
from shared.runtime import Service
from shared.usecases import Conflict, Invalid

log = get_logger(__name__)


class Stock:
    """Stock arriving and counted, over one service's database and outbox."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.fulfilment = Fulfilment(service)

    async def receive(
        self,
        session: AsyncSession,
        quantity: int,
        correlation_id: str,
        *,
        item: str = BADGE,
        actor: str | None = None,
        note: str | None = None,
    ) -> Balance:
        """Record stock arriving at the warehouse; badges go to whoever waits at once."""
        _known(item)
        await ledger.receive(session, quantity, item, actor=actor, note=note)
        if item == BADGE:
            # Leaflet receipts stay in dispatch's ledger: StockReceived's consumers (reporting's
            # stock figures) count badges and do not look at the item.
            await self.service.emit(
                session, StockReceived(item=item, quantity=quantity), correlation_id
            )
            await self.fulfilment.serve_waitlist(session, correlation_id)
        return await ledger.read_stock(session, item)

    async def adjust(
        self,
        session: AsyncSession,
        quantity: int,
        correlation_id: str,
        *,
        actor: str,
        note: str,
        item: str = BADGE,
    ) -> Balance:
        """A stock-take correction: badges found are served to the waitlist at once; badges
        missing are refused if they are already promised to orders."""
        _known(item)
        if quantity == 0:
            raise Invalid(
                "adjustment-is-zero",
                "Send the difference the stock-take found: a positive number for badges found, "
                "a negative one for badges missing.",
                title="Nothing to adjust",
            )
        try:
            await ledger.adjust(session, quantity, actor=actor, note=note, item=item)
        except StockConflict:
            raise Conflict(
                "adjustment-exceeds-available",
                f"Removing {-quantity} would take stock reserved for orders or count "
                "below zero; at most the available figure can be removed. Check the count, "
                "or release orders through customer services first.",
                title="Those badges are already promised",
            ) from None
        if quantity > 0 and item == BADGE:
            await self.fulfilment.serve_waitlist(session, correlation_id)
        return await ledger.read_stock(session, item)


@dataclass(frozen=True)
class StockReport:
    """Every item's balance checked against the ledger, and what waits for badges."""

    checks: dict[str, LedgerCheck]
    waiting: WaitlistSize

    @property
    def consistent(self) -> bool:
        """Every balance equals what its ledger adds up to, and every order's entries match
        its state."""
        return all(check.consistent for check in self.checks.values())


async def report(session: AsyncSession) -> StockReport:
    """The stock as committed; a balance that disagrees with its ledger is logged as an error."""
    checks = {item: await ledger.check_ledger(session, item) for item in ITEMS}
    waiting = await placements.waitlist_size(session)
    for item, check in checks.items():
        if not check.consistent:
            log.error(
                "stock balance disagrees with the ledger",
                item=item,
                balance=str(check.balance),
                ledger=str(check.ledger),
                orders_out_of_step=check.orders_out_of_step,
            )
    return StockReport(checks, waiting)


def _known(item: str) -> None:
    if item not in ITEMS:
        raise Invalid(
            "unknown-item",
            f"Dispatch keeps no stock of {item!r}: it keeps {', '.join(ITEMS)}.",
            field="item",
            title="Unknown item",
        )
