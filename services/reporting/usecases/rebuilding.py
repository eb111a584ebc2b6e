"""Rebuilding every figure from the event log (``python -m services.reporting.cli rebuild``),
for when a counter is wrong or a new figure needs the past.

It runs in one transaction that holds off new events (they wait and then carry on from the
rebuilt counters); readers see the old figures until it commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.reporting.store.rebuild import hold_off_events, recompute, replace
from shared.store.db import Database


@dataclass(frozen=True)
class RebuildReport:
    facts: int
    orders: int


async def rebuild(db: Database) -> RebuildReport:
    """Replace every counter (and each order's state) with what the log implies."""
    async with db.transaction() as session:
        await hold_off_events(session)
        figures, states, facts = await recompute(session)
        await replace(session, figures, states)
    return RebuildReport(facts=facts, orders=len(states))
