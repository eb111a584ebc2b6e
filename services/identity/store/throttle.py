"""Reading and writing brute-force counters, in the caller's transaction (see
:mod:`services.identity.domain.throttle`).

Every sign-in runs these, so they run on asyncpg's prepared statements
(shared/store/prepared.py), each one statement: a counter is locked and read by one upsert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.domain.throttle import Counter
from services.identity.store.tables import throttle
from shared.store import prepared

#: Lock a counter and read it, creating it (clear) if there is none. ``DO UPDATE`` rather than
#: ``DO NOTHING`` and a ``SELECT ... FOR UPDATE``: it always locks the row and returns its
#: latest state, even one committed after this statement's snapshot (a parallel first attempt
#: on the same key waits on the insert, then finds that attempt's count here).
_LOCK = (
    "INSERT INTO throttle AS t (scope, key) VALUES ($1, $2) "
    "ON CONFLICT (scope, key) DO UPDATE SET count = t.count "
    "RETURNING t.count, t.first_at, t.last_at, t.locked_until, t.xmax = 0 AS created"
)

#: :data:`_LOCK`, and another counter read (not locked) in the same statement.
_LOCK_AND_READ = (
    "WITH other AS ("  # noqa: S608 - a fixed fragment from this module
    "SELECT count, first_at, last_at, locked_until FROM throttle WHERE scope = $3 AND key = $4"
    "), locked AS (" + _LOCK + ") "
    "SELECT locked.*, other.count AS other_count, other.first_at AS other_first_at, "
    "other.last_at AS other_last_at, other.locked_until AS other_locked_until "
    "FROM locked LEFT JOIN other ON true"
)

_READ = "SELECT count, first_at, last_at, locked_until FROM throttle WHERE scope = $1 AND key = $2"

_SAVE = (
    "INSERT INTO throttle AS t (scope, key, count, first_at, last_at, locked_until) "
    "VALUES ($1, $2, $3, $4, $5, $6) "
    "ON CONFLICT (scope, key) DO UPDATE SET count = excluded.count, "
    "first_at = excluded.first_at, last_at = excluded.last_at, "
    "locked_until = excluded.locked_until"
)

#: A counter's delete, its scope and key (``{}``) given by the statement that runs it: on its
#: own (:data:`_CLEAR`) or beside a sign-in's new session (store/sessions.py).
CLEAR = "DELETE FROM throttle WHERE scope = {} AND key = {}"
_CLEAR = CLEAR.format("$1", "$2")


@dataclass(frozen=True)
class Locked:
    """A counter locked until the transaction ends, and whether this statement created it."""

    counter: Counter
    created: bool


async def lock_counter(session: AsyncSession, scope: str, key: bytes) -> Counter:
    """The counter, locked until the transaction ends: parallel attempts on one key queue here,
    so each is counted and judged on the count before it."""
    (row,) = await prepared.fetch(session, _LOCK, scope, key)
    return _counter(row)


async def lock_counter_reading(
    session: AsyncSession, scope: str, key: bytes, other_scope: str, other_key: bytes
) -> tuple[Locked, Counter]:
    """:func:`lock_counter`, and another counter as :func:`read_counter` reads it, in one
    statement."""
    (row,) = await prepared.fetch(session, _LOCK_AND_READ, scope, key, other_scope, other_key)
    other = Counter(
        row["other_count"] or 0,
        row["other_first_at"],
        row["other_last_at"],
        row["other_locked_until"],
    )
    return Locked(_counter(row), bool(row["created"])), other


async def read_counter(session: AsyncSession, scope: str, key: bytes) -> Counter:
    rows = await prepared.fetch(session, _READ, scope, key)
    return _counter(rows[0]) if rows else Counter()


async def save_counter(session: AsyncSession, scope: str, key: bytes, counter: Counter) -> None:
    await prepared.fetch(
        session,
        _SAVE,
        scope,
        key,
        counter.count,
        counter.first_at,
        counter.last_at,
        counter.locked_until,
    )


async def clear_counter(session: AsyncSession, scope: str, key: bytes) -> None:
    await prepared.fetch(session, _CLEAR, scope, key)


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


def _counter(row: Any) -> Counter:
    return Counter(row["count"], row["first_at"], row["last_at"], row["locked_until"])
