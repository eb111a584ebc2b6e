"""Projecting one event into the anonymous figures, inside the consumer's transaction.

For each event: reduce it to its anonymised fact (or nothing), append the fact to the log,
and move the counters by what the event changes. For an event about an order, that is the
difference the event makes to the order's contribution (see domain/progress.py), so the
figures come out the same whatever order the events arrive in.

All of it is done once per transaction, just before it commits, not once per event: every event
touches the same few counter rows (today's national figures) and often the order another event
in the same transaction is about. So the handler only reduces the event; before the commit,
one statement appends every fact to the log (those not logged already) and locks and reads
every order they are about, in key order; the facts are merged into the orders' states in the
order the events came; and one statement writes the states that changed and the summed
counter changes (repository.save).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

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

_PENDING = "reporting.pending"


@dataclass
class _Pending:
    """The transaction's events, reduced, to be projected just before it commits."""

    service: str
    events: list[tuple[UUID, EventFact]] = field(default_factory=list)


async def record(session: AsyncSession, event: Envelope[Any], service: str = "reporting") -> None:
    """Handle one event inside the consumer's transaction (after the inbox claim): its fact
    is projected with the transaction's others just before it commits."""
    reduced = reduce(event.payload, event.occurred_at)
    if reduced is None:
        return
    pending: _Pending | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = _Pending(service)
        before_commit(session, _PENDING, _project)
    pending.events.append((event.event_id, reduced))


async def _project(session: AsyncSession) -> None:
    pending: _Pending = session.info.pop(_PENDING)
    logged = await repository.log_facts(
        session,
        [(event_id, r.order_id, r.event_type, r.fact) for event_id, r in pending.events],
    )
    states = {order_id: state for order_id, (_, state) in logged.orders.items()}
    fresh = set(logged.fresh)
    figures = Figures()
    for event_id, reduced in pending.events:
        if event_id not in fresh:
            continue  # logged already: a redelivery (or a second delivery in this transaction)
        fresh.discard(event_id)
        kind, fact = reduced.event_type, reduced.fact
        figures.add(event_figures(kind, fact))
        if reduced.order_id is None:
            continue
        before = states[reduced.order_id]
        states[reduced.order_id] = after = merge(before, kind, fact)
        figures.add(change(before, after))
        for step, seconds in completed_steps(before, after):
            ORDER_STEP.labels(pending.service, step).observe(seconds)
    changed = {
        ref: states[order_id]
        for order_id, (ref, stored) in logged.orders.items()
        if states[order_id] != stored
    }
    figures = figures.pruned()
    if changed or figures:
        await repository.save(session, changed, figures)
