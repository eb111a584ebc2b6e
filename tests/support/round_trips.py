"""The statements a process sends to PostgreSQL, as the statement-count tests and the cost
benchmarks need them.

The services send statements three ways: through SQLAlchemy (a cursor execution each), as
asyncpg prepared statements in the session's transaction (``shared.store.prepared.fetch``),
which SQLAlchemy never sees, and as one-statement transactions outside any session
(``prepared.fetch_alone``: the relays' marks and due checks). Counting only one of them
undercounts, so one recorder takes all three, with the session each ran in (None for
``fetch_alone``, and for SQLAlchemy's when recording an engine) and a label the caller sets
around the work it measures (``labelled``): a benchmark's steps, or one task's work while the
service's relays run beside it. BEGIN and COMMIT are recorded too when an engine is given,
to count transactions. One recording at a time: each replaces the module's functions.

    with recording(db.engine) as sent:
        with sent.labelled("place"):
            await place_order(...)
    sent.count("place")
"""

from __future__ import annotations

import contextvars
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from shared.store import prepared

#: What a statement count counts: each is one round trip with a statement in it.
STATEMENTS = ("sqlalchemy", "prepared")
#: The transaction's own round trips, recorded only with an engine.
TRANSACTION = ("begin", "commit")

_LABEL: contextvars.ContextVar[str] = contextvars.ContextVar("round_trip_label", default="")


@dataclass(frozen=True)
class Sent:
    """One round trip."""

    kind: str
    sql: str
    #: The session it ran in; None for what the engine's events report (they do not say).
    session: Session | None
    label: str


class RoundTrips:
    """What was sent while recording, in order."""

    def __init__(self, *, with_sessions: bool = True) -> None:
        self.sent: list[Sent] = []
        #: Whether SQLAlchemy's statements carry their session (not when recording an engine).
        self.with_sessions = with_sessions
        #: The event listeners the recording attached (each removed when it ends).
        self.listeners: list[tuple[Any, str, Any]] = []

    def add(self, kind: str, sql: str, session: Session | None = None) -> None:
        self.sent.append(Sent(kind, sql, session, _LABEL.get()))

    @contextmanager
    def labelled(self, label: str) -> Iterator[None]:
        """Stamp ``label`` on what this task (and tasks it starts) sends meanwhile."""
        token = _LABEL.set(label)
        try:
            yield
        finally:
            _LABEL.reset(token)

    def label_from_now(self, label: str) -> None:
        """Stamp ``label`` on what this task sends from now on, until labelled again or the
        recording ends (for a benchmark whose steps run one after another in one task)."""
        _LABEL.set(label)

    def _need_sessions(self) -> None:
        if not self.with_sessions:
            raise TypeError("recording an engine keeps no session: record without one")

    def clear(self) -> None:
        self.sent.clear()

    def of(self, label: str | None = None, kinds: tuple[str, ...] = STATEMENTS) -> list[Sent]:
        return [s for s in self.sent if s.kind in kinds and (label is None or s.label == label)]

    def count(self, label: str | None = None, kinds: tuple[str, ...] = STATEMENTS) -> int:
        return len(self.of(label, kinds))

    def in_session(self, session: AsyncSession) -> list[str]:
        """The statements one session ran, in order, whitespace folded."""
        self._need_sessions()
        return [_folded(s.sql) for s in self.sent if s.session is session.sync_session]

    def sessions(self) -> list[list[str]]:
        """The statements of each session (whitespace folded), sessions in the order they
        first sent one."""
        self._need_sessions()
        grouped: dict[int, list[str]] = {}
        for s in self.sent:
            if s.session is not None:
                grouped.setdefault(id(s.session), []).append(_folded(s.sql))
        return list(grouped.values())

    def tally(
        self, label: str | None = None, kinds: tuple[str, ...] = STATEMENTS, width: int = 90
    ) -> Counter[str]:
        """How often each statement ran, by its first ``width`` characters, spaces folded."""
        return Counter(_folded(s.sql)[:width] for s in self.of(label, kinds))

    def per(self, labels: tuple[str, ...], n: int) -> dict[str, float]:
        """Statements per ``n`` (orders, providers) under each label."""
        return {label: round(self.count(label) / n, 2) for label in labels}

    def listing(self, labels: tuple[str, ...], n: int, width: int = 100) -> dict[str, Any]:
        """Each statement's count per ``n``, by label."""
        return {
            label: {sql: round(k / n, 2) for sql, k in self.tally(label, width=width).items()}
            for label in labels
        }


def _folded(sql: str) -> str:
    return " ".join(sql.split())


@contextmanager
def recording(engine: AsyncEngine | None = None) -> Iterator[RoundTrips]:
    """Record every statement sent while inside.

    With ``engine``, SQLAlchemy's statements are taken from its cursor executions (and BEGIN
    and COMMIT from its transaction events), without their session; without it, from every
    session's executions, with the session.
    """
    trips = RoundTrips(with_sessions=engine is None)
    real_fetch, real_fetch_alone = prepared.fetch, prepared.fetch_alone

    async def fetch(session: AsyncSession, sql: str, *args: Any) -> Any:
        trips.add("prepared", sql, session.sync_session)
        return await real_fetch(session, sql, *args)

    async def fetch_alone(engine: AsyncEngine, sql: str, *args: Any) -> list[Any]:
        trips.add("prepared", sql)
        return await real_fetch_alone(engine, sql, *args)

    def cursor(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        trips.add("sqlalchemy", statement)

    def begin(_conn: Any) -> None:
        trips.add("begin", "BEGIN")

    def commit(_conn: Any) -> None:
        trips.add("commit", "COMMIT")

    def orm(state: ORMExecuteState) -> None:
        trips.add("sqlalchemy", str(state.statement), state.session)

    listeners: list[tuple[Any, str, Any]] = (
        [
            (engine.sync_engine, "before_cursor_execute", cursor),
            (engine.sync_engine, "begin", begin),
            (engine.sync_engine, "commit", commit),
        ]
        if engine is not None
        else [(Session, "do_orm_execute", orm)]
    )
    attached = trips.listeners
    label = _LABEL.set("")  # labels set inside (``label_from_now``) end with the recording
    try:
        prepared.fetch, prepared.fetch_alone = fetch, fetch_alone
        for target, name, listener in listeners:
            event.listen(target, name, listener)
            attached.append((target, name, listener))
        yield trips
    finally:
        prepared.fetch, prepared.fetch_alone = real_fetch, real_fetch_alone
        for target, name, listener in attached:
            event.remove(target, name, listener)
        _LABEL.reset(label)
