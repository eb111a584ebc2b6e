"""Idempotency inbox: one row per (consumer queue, event id), written with the effects.

Because the row and the effects commit together, a redelivered event (after a crash before the
ack, or a publisher's retry) finds its row and is absorbed; if the first attempt rolled back,
neither exists and the retry does the work.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from sqlalchemy import Column, DateTime, MetaData, String, Table, Uuid, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.store import prepared


def inbox_table(metadata: MetaData) -> Table:
    if "inbox" in metadata.tables:  # a second instance of the service in one process
        return metadata.tables["inbox"]
    return Table(
        "inbox",
        metadata,
        Column("consumer", String(128), primary_key=True),
        Column("event_id", Uuid, primary_key=True),
        Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


async def claim(session: AsyncSession, table: Table, consumer: str, event_id: UUID) -> bool:
    """True if this consumer has not handled the event before (and now owns it)."""
    result = await session.execute(
        insert(table)
        .values(consumer=consumer, event_id=event_id)
        .on_conflict_do_nothing()
        .returning(table.c.event_id)
    )
    return result.first() is not None


#: One statement for any number of claims, built once: the arrays are its only parameters, so
#: PostgreSQL and asyncpg prepare it once per connection, where an insert of N value rows was a
#: new statement for every N (docs/adr/0053-cost-per-order.md). Every delivery batch runs it,
#: so it runs on asyncpg's prepared statement (shared/store/prepared.py).
_CLAIM_MANY = (
    "INSERT INTO inbox (consumer, event_id) "
    "SELECT * FROM unnest($1::varchar[], $2::uuid[]) "
    "ON CONFLICT DO NOTHING RETURNING consumer, event_id"
)


async def claim_many(
    session: AsyncSession, keys: Sequence[tuple[str, UUID]]
) -> set[tuple[str, UUID]]:
    """Claim every (consumer, event id) not seen before; returns the ones now claimed."""
    rows = await prepared.fetch(session, _CLAIM_MANY, [c for c, _ in keys], [e for _, e in keys])
    return {(row[0], row[1]) for row in rows}
