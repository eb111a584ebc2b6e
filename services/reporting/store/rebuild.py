"""Recomputing every counter from the event log, and writing the result over the counters
(the rebuild itself is usecases/rebuilding.py).

The log holds each consumed event's anonymised fact with reporting's own number for its order.
Recomputing folds the facts of each order into its state, in log order, and sums what every
order and every other event contributes: the same functions the live handlers use, so the
counters come out identical.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain.progress import (
    Figures,
    OrderState,
    event_figures,
    merge,
    order_figures,
)
from services.reporting.store import repository
from services.reporting.store.tables import (
    breakdown_totals,
    daily_breakdown,
    daily_figures,
    dispatch_durations,
    event_log,
    open_items,
    order_progress,
)

COUNTERS = (daily_figures, daily_breakdown, breakdown_totals, dispatch_durations, open_items)
_BATCH = 5000


async def recompute(session: AsyncSession) -> tuple[Figures, dict[int, OrderState], int]:
    """Every counter amount, and every order's state, from the log alone."""
    total = Figures()
    states: dict[int, OrderState] = {}
    facts = 0
    current: int | None = None
    state = OrderState()
    result = await session.stream(
        select(event_log.c.event_type, event_log.c.order_ref, event_log.c.fact)
        .order_by(event_log.c.order_ref.nulls_first(), event_log.c.id)
        .execution_options(yield_per=_BATCH)
    )
    async for event_type, order_ref, fact in result.tuples():
        facts += 1
        total.add(event_figures(event_type, fact))
        if order_ref is None:
            continue
        if order_ref != current:
            if current is not None:
                total.add(order_figures(state))
                states[current] = state
            current, state = order_ref, OrderState()
        state = merge(state, event_type, fact)
    if current is not None:
        total.add(order_figures(state))
        states[current] = state
    return total.pruned(), states, facts


async def hold_off_events(session: AsyncSession) -> None:
    """New events wait until the transaction ends; readers carry on with the figures as they
    were until it commits."""
    await session.execute(text("LOCK TABLE event_log, order_progress IN EXCLUSIVE MODE"))


async def replace(session: AsyncSession, figures: Figures, states: dict[int, OrderState]) -> None:
    """Every counter, and each order's state, as recomputed."""
    for table in COUNTERS:
        await session.execute(delete(table))
    await repository.apply(session, figures, empty=True)
    stmt = (
        update(order_progress)
        .where(order_progress.c.order_ref == bindparam("ref"))
        .values(state=bindparam("new_state", type_=JSONB))
    )
    rows: list[dict[str, Any]] = [
        {"ref": ref, "new_state": state.to_json()} for ref, state in states.items()
    ]
    for start in range(0, len(rows), _BATCH):
        await session.execute(stmt, rows[start : start + _BATCH])
