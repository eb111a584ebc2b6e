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

from services.dispatch.domain.stock import BADGE, LEAFLETS
from services.dispatch.usecases import stock
from services.dispatch.usecases.stock import Stock, StockReport
from shared.http.auth import Principal, require_role
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


def _view(report: StockReport) -> StockView:
    checks = report.checks
    badges = checks[BADGE].balance
    return StockView(
        item=BADGE,
        received=badges.received,
        reserved=badges.reserved,
        allocated=badges.allocated,
        available=badges.available,
        waitlisted_orders=report.waiting.orders,
        waitlisted_badges=report.waiting.badges,
        leaflets=[
            LeafletView(
                item=item,
                received=checks[item].balance.received,
                packed=checks[item].balance.allocated,
                available=checks[item].balance.available,
            )
            for item in LEAFLETS
        ],
        ledger_balanced=report.consistent,
    )


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api/stock", tags=["stock"])
    operations = Depends(require_role(service.verifier, "operations"))
    stocktaking = Stock(service)

    @api.post("/receipts", status_code=201, response_model=StockView)
    async def receive(
        body: ReceiptIn, request: Request, principal: Principal = operations
    ) -> StockView:
        """Record badges or leaflets received; waiting orders are served badges at once."""
        async with service.db.transaction() as session:
            await stocktaking.receive(
                session,
                body.quantity,
                request.state.correlation_id,
                item=body.item,
                actor=str(principal.account_id),
                note=body.note,
            )
            view = _view(await stock.report(session))
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
        async with service.db.transaction() as session:
            await stocktaking.adjust(
                session,
                body.quantity,
                request.state.correlation_id,
                actor=str(principal.account_id),
                note=body.reason,
                item=body.item,
            )
            view = _view(await stock.report(session))
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
            return _view(await stock.report(session))

    return api
