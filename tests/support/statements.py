"""Counting the statements a transaction runs, for the tests that pin a hot path's cost
(docs/adr/0054-cost-per-order-levers.md): every statement run through a session, by session,
SQLAlchemy's and the prepared ones (shared/store/prepared.py), BEGIN and COMMIT aside."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any, TypeVar

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from shared.store import prepared


class Statements:
    """The statements each session ran, whitespace folded, in the order it ran them."""

    def __init__(self) -> None:
        self.by_session: dict[Session, list[str]] = defaultdict(list)

    def of(self, session: AsyncSession) -> list[str]:
        return self.by_session[session.sync_session]


S = TypeVar("S", bound=Statements)


def recording(monkeypatch: pytest.MonkeyPatch, seen: S) -> Iterator[S]:
    """Record into ``seen`` while the fixture using this lasts."""
    real = prepared.fetch

    async def fetch(session: AsyncSession, sql: str, *args: Any) -> Any:
        seen.by_session[session.sync_session].append(" ".join(sql.split()))
        return await real(session, sql, *args)

    def orm(state: ORMExecuteState) -> None:
        seen.by_session[state.session].append(" ".join(str(state.statement).split()))

    monkeypatch.setattr(prepared, "fetch", fetch)
    event.listen(Session, "do_orm_execute", orm)
    yield seen
    event.remove(Session, "do_orm_execute", orm)
