"""What every reviewer's action starts with: who is acting, and the order as they saw it.

Each form and request carries the order's version, so a reviewer acting on a page someone else
has since changed is refused instead of overwriting; and every action names its person, whose
name pages show beside what they did.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.verification.store import backoffice, repository
from shared.runtime import Service
from shared.usecases import Conflict, NotFound


@dataclass(frozen=True)
class Reviewer:
    account_id: UUID
    correlation_id: str
    #: As the token named them (staff tokens carry it): shown instead of the id.
    name: str = ""


@asynccontextmanager
async def acting(service: Service, reviewer: Reviewer) -> AsyncIterator[AsyncSession]:
    """The transaction of one reviewer's action, which first remembers who the reviewer is,
    so pages name them beside what they did."""
    async with service.db.transaction() as session:
        if reviewer.name:
            await backoffice.remember_reviewer(session, str(reviewer.account_id), reviewer.name)
        yield session


def order_not_found() -> NotFound:
    return NotFound("order-not-found", "There is no order with that id.", title="Order not found")


async def lock_as_seen(session: AsyncSession, order_id: UUID, version: int) -> dict[str, Any]:
    """The order, locked, if it is still the version the reviewer was looking at."""
    order = await repository.lock_order(session, order_id)
    if order is None:
        raise order_not_found()
    if order["version"] != version:
        raise Conflict(
            "changed-since-viewed",
            "Reload the order to see what changed, then try again.",
            title="Someone else changed this order",
        )
    return order
