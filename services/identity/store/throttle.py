"""Reading and writing brute-force counters; each call runs in its own short transaction so a
count survives the sign-in that failed (see :mod:`services.identity.domain.throttle`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.domain.throttle import Counter
from services.identity.store.tables import throttle


async def lock_counter(session: AsyncSession, scope: str, key: bytes) -> Counter:
    """The counter, locked until the transaction ends: parallel attempts on one key queue here,
    so each is counted and judged on the count before it."""
    await session.execute(insert(throttle).values(scope=scope, key=key).on_conflict_do_nothing())
    row = (
        await session.execute(
            select(
                throttle.c.count, throttle.c.first_at, throttle.c.last_at, throttle.c.locked_until
            )
            .where(throttle.c.scope == scope, throttle.c.key == key)
            .with_for_update()
        )
    ).one()
    return _counter(row)


async def read_counter(session: AsyncSession, scope: str, key: bytes) -> Counter:
    row = (
        await session.execute(
            select(
                throttle.c.count, throttle.c.first_at, throttle.c.last_at, throttle.c.locked_until
            ).where(throttle.c.scope == scope, throttle.c.key == key)
        )
    ).first()
    return Counter() if row is None else _counter(row)


async def save_counter(session: AsyncSession, scope: str, key: bytes, counter: Counter) -> None:
    values = {
        "count": counter.count,
        "first_at": counter.first_at,
        "last_at": counter.last_at,
        "locked_until": counter.locked_until,
    }
    stmt = insert(throttle).values(scope=scope, key=key, **values)
    await session.execute(
        stmt.on_conflict_do_update(index_elements=[throttle.c.scope, throttle.c.key], set_=values)
    )


async def clear_counter(session: AsyncSession, scope: str, key: bytes) -> None:
    await session.execute(delete(throttle).where(throttle.c.scope == scope, throttle.c.key == key))


async def forget_quiet_counters(session: AsyncSession, scope: str, older_than: datetime) -> int:
    """Delete counters with nothing since ``older_than`` and no lock in force (housekeeping)."""
    result = await session.execute(
        delete(throttle).where(
            throttle.c.scope == scope,
            throttle.c.last_at < older_than,
            (throttle.c.locked_until.is_(None)) | (throttle.c.locked_until < older_than),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _counter(row: Row[Any, Any, Any, Any]) -> Counter:
    # ``Row.count`` is the tuple method, so the column is read through the mapping.
    values = row._mapping
    return Counter(values["count"], values["first_at"], values["last_at"], values["locked_until"])
