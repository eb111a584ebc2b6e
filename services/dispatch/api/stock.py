"""The operations API over the stock: see it, record deliveries and stock-take corrections.

Every change is a ledger entry naming who made it; the balance shown is checked against the
ledger each time it is shown, so a discrepancy is visible rather than hidden in a counter.
Badges are rationed (reserved first come first served); leaflets are counted as parcels take
them, and a shortfall (more packed than recorded received) is shown, not refused (ADR 0013).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain.stock import BADGE, ITEMS, LEAFLETS
from services.dispatch.handlers.fulfilment import Fulfilment
from services.dispatch.store import repository
from services.dispatch.store.repository import StockConflict
from shared.http.auth import Principal, require_role
from shared.http.problems import Problem
from shared.logging import get_logger
from shared.runtime import Service

log = get_logger(__name__)

Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


Item = Literal["badge", "wellbeing_leaflet", "winter_leaflet"]


class ReceiptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: Item
    quantity: Annotated[int, Field(strict=True, gt=0, le=10_000_000)] = Field(
        description="Badges or leaflets that arrived at the warehouse."
    )
    note: Note | None = Field(None, description="Delivery note number or anything worth keeping.")


class AdjustmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: Item
    quantity: Annotated[int, Field(strict=True, ge=-10_000_000, le=10_000_000)] = Field(
        description="Found (positive) or missing (negative) at a stock-take."
    )
    reason: Note = Field(description="Why the count differs, for the ledger.")


class LeafletView(BaseModel):
    item: str
    received: int
    #: Taken by parcels that left.
    packed: int
    #: Below zero: more were packed than were recorded received (a delivery not recorded).
    available: int


class StockView(BaseModel):
    item: str
    received: int
    reserved: int
    allocated: int
    available: int
    waitlisted_orders: int
    waitlisted_badges: int
    leaflets: list[LeafletView]
    #: Every balance equals what the ledger adds up to, and every order's entries match its
    #: state.
    ledger_balanced: bool


async def _view(session: AsyncSession) -> StockView:
    checks = {item: await repository.check_ledger(session, item) for item in ITEMS}
    waiting = await repository.waitlist_size(session)
    for item, check in checks.items():
        if not check.consistent:
            log.error(
                "stock balance disagrees with the ledger",
                item=item,
                balance=str(check.balance),
                ledger=str(check.ledger),
                orders_out_of_step=check.orders_out_of_step,
            )
    badges = checks[BADGE].balance
    return StockView(
        item=BADGE,
        received=badges.received,
        reserved=badges.reserved,
        allocated=badges.allocated,
        available=badges.available,
        waitlisted_orders=waiting.orders,
        waitlisted_badges=waiting.badges,
        leaflets=[
            LeafletView(
                item=item,
                received=checks[item].balance.received,
                packed=checks[item].balance.allocated,
                available=checks[item].balance.available,
            )
            for item in LEAFLETS
        ],
        ledger_balanced=all(check.consistent for check in checks.values()),
    )


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api/stock", tags=["stock"])
    operations = Depends(require_role(service.verifier, "operations"))
    steps = Fulfilment(service)

    @api.post("/receipts", status_code=201, response_model=StockView)
    async def receive(
        body: ReceiptIn, request: Request, principal: Principal = operations
    ) -> StockView:
        """Record badges or leaflets received; waiting orders are served badges at once."""
        async with service.db.transaction() as session:
            await steps.receive_stock(
                session,
                body.quantity,
                request.state.correlation_id,
                item=body.item,
                actor=str(principal.account_id),
                note=body.note,
            )
            view = await _view(session)
        log.info(
            "stock received",
            item=body.item,
            quantity=body.quantity,
            by_account=principal.account_id,
        )
        return view

    @api.post("/adjustments", status_code=201, response_model=StockView)
    async def adjust(
        body: AdjustmentIn, request: Request, principal: Principal = operations
    ) -> StockView:
        """Correct the count after a stock-take. Badges found serve the waitlist at once;
        badges missing are refused if they are already promised to orders."""
        if body.quantity == 0:
            raise Problem(
                422,
                "adjustment-is-zero",
                "Nothing to adjust",
                "Send the difference the stock-take found: a positive number for badges found, "
                "a negative one for badges missing.",
            )
        try:
            async with service.db.transaction() as session:
                await steps.adjust_stock(
                    session,
                    body.quantity,
                    request.state.correlation_id,
                    actor=str(principal.account_id),
                    note=body.reason,
                    item=body.item,
                )
                view = await _view(session)
        except StockConflict:
            raise Problem(
                409,
                "adjustment-exceeds-available",
                "Those badges are already promised",
                f"Removing {-body.quantity} would take stock reserved for orders or count "
                "below zero; at most the available figure can be removed. Check the count, "
                "or release orders through customer services first.",
            ) from None
        log.info(
            "stock adjusted",
            item=body.item,
            quantity=body.quantity,
            by_account=principal.account_id,
        )
        return view

    @api.get("", response_model=StockView, dependencies=[operations])
    async def show() -> StockView:
        """Badges (and how many orders and badges wait for them), leaflets, and whether every
        balance agrees with the ledger."""
        async with service.db.transaction() as session:
            return await _view(session)

    return api
