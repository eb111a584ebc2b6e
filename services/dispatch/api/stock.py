"""The operations API over the badge stock: see it, and record deliveries to the warehouse."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from services.dispatch.domain.stock import BADGE
from services.dispatch.handlers.fulfilment import Fulfilment
from services.dispatch.store import repository
from shared.http.auth import Principal, require_role
from shared.logging import get_logger
from shared.runtime import Service

log = get_logger(__name__)


class ReceiptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: Literal["badge"]
    quantity: Annotated[int, Field(strict=True, gt=0, le=10_000_000)] = Field(
        description="Badges that arrived at the warehouse."
    )


class StockView(BaseModel):
    item: str
    received: int
    reserved: int
    allocated: int
    available: int
    waitlisted_orders: int


async def _view(session: AsyncSession) -> StockView:
    balance = await repository.read_stock(session)
    return StockView(
        item=BADGE,
        received=balance.received,
        reserved=balance.reserved,
        allocated=balance.allocated,
        available=balance.available,
        waitlisted_orders=await repository.waitlisted_count(session),
    )


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api/stock", tags=["stock"])
    operations = Depends(require_role(service.verifier, "operations"))
    steps = Fulfilment(service)

    @api.post("/receipts", status_code=201, response_model=StockView)
    async def receive(
        body: ReceiptIn, request: Request, principal: Principal = operations
    ) -> StockView:
        """Record badges received; waiting orders are served from them at once."""
        async with service.db.transaction() as session:
            await steps.receive_stock(session, body.quantity, request.state.correlation_id)
            view = await _view(session)
        log.info("stock received", quantity=body.quantity, by_account=principal.account_id)
        return view

    @api.get("", response_model=StockView, dependencies=[operations])
    async def show() -> StockView:
        """The balance and how many orders wait for stock."""
        async with service.db.transaction() as session:
            return await _view(session)

    return api
