"""Reporting's queries."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.store.tables import daily_figures


async def add(session: AsyncSession, day: date, metric: str, amount: int) -> None:
    stmt = insert(daily_figures).values(day=day, metric=metric, value=amount)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["day", "metric"], set_={"value": daily_figures.c.value + amount}
        )
    )


async def totals(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(daily_figures.c.metric, func.sum(daily_figures.c.value)).group_by(
            daily_figures.c.metric
        )
    )
    return {metric: int(total) for metric, total in rows}


async def daily(session: AsyncSession) -> list[tuple[date, str, int]]:
    rows = await session.execute(
        select(daily_figures.c.day, daily_figures.c.metric, daily_figures.c.value).order_by(
            daily_figures.c.day, daily_figures.c.metric
        )
    )
    return [(d, m, int(v)) for d, m, v in rows]
