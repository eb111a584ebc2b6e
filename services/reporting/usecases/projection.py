"""Projecting one event into the anonymous figures, inside the consumer's transaction.

For each event: reduce it to its anonymised fact (or nothing), append the fact to the log,
and move the counters by what the event changes. For an event about an order, that is the
difference the event makes to the order's contribution (see domain/progress.py), so the
figures come out the same whatever order the events arrive in.

The counters are moved once per transaction, not once per event: every event touches the same
few counter rows (today's national figures), so when deliveries share a transaction their
changes are summed and written together just before it commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain.facts import EventFact, reduce
from services.reporting.domain.progress import (
    Figures,
    change,
    completed_steps,
    event_figures,
    merge,
)
from services.reporting.store import repository
from shared.events import Envelope
from shared.metrics import ORDER_STEP
from shared.store.db import before_commit

_PENDING = "reporting.figures"


async def record(session: AsyncSession, event: Envelope[Any], service: str = "reporting") -> None:
    """Handle one event inside the consumer's transaction (after the inbox claim)."""
    reduced = reduce(event.payload, event.occurred_at)
    if reduced is not None:
        await _apply(session, event, reduced, service)


async def _apply(
    session: AsyncSession, event: Envelope[Any], reduced: EventFact, service: str
) -> None:
    order_ref = None
    if reduced.order_id is not None:
        order_ref, before = await repository.lock_order(session, reduced.order_id)
    fresh = await repository.append_fact(
        session, event.event_id, reduced.event_type, order_ref, reduced.fact
    )
    if not fresh:
        return
    figures = event_figures(reduced.event_type, reduced.fact)
    if order_ref is not None:
        after = merge(before, reduced.event_type, reduced.fact)
        figures.add(change(before, after))
        await repository.save_order(session, order_ref, after)
        for step, seconds in completed_steps(before, after):
            ORDER_STEP.labels(service, step).observe(seconds)
    await _add_figures(session, figures)


async def _add_figures(session: AsyncSession, figures: Figures) -> None:
    """Add to the transaction's sum of counter changes, written just before it commits."""
    pending = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = Figures()
        before_commit(session, _PENDING, _write_figures)
    pending.add(figures)


async def _write_figures(session: AsyncSession) -> None:
    figures: Figures = session.info.pop(_PENDING)
    await repository.apply(session, figures.pruned())
