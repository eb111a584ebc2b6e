"""Telling a passing fault of the database from a real failure of the handler.

A dropped connection, a full connection table, a restart in progress, a deadlock or a
serialization failure say nothing about the message: the same work will succeed shortly.
Such faults are retried in place rather than counted against the message's delivery limit,
so an outage does not send good messages to the dead-letter queue.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from shared.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")

#: SQLSTATE classes and codes that mean "try again": connection exceptions (08), insufficient
#: resources (53, e.g. too many connections), operator intervention (57P: shutdown, restart),
#: serialization failure and deadlock (40001, 40P01).
_TRANSIENT_PREFIXES = ("08", "53", "57P", "40001", "40P01")


def _sqlstate(exc: BaseException) -> str | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str):
            return state
        current = getattr(current, "orig", None) or current.__cause__
    return None


def is_transient(exc: BaseException) -> bool:
    """True if retrying the same work later is likely to succeed."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    state = _sqlstate(exc)
    if state is not None:
        return state.startswith(_TRANSIENT_PREFIXES)
    return isinstance(
        exc, OperationalError | InterfaceError | ConnectionError | TimeoutError | OSError
    )


#: A deadlock or a serialization failure (40P01, 40001): PostgreSQL rolled the whole
#: transaction back, so nothing of it was kept and running it again is safe.
_ROLLED_BACK = ("40P01", "40001")


def is_rolled_back_conflict(exc: BaseException) -> bool:
    """True if the transaction lost a lock conflict and was rolled back entirely."""
    return _sqlstate(exc) in _ROLLED_BACK


async def again_after_conflicts(
    work: Callable[[], Awaitable[T]], attempts: int = 3, pause: float = 0.02
) -> T:
    """Run ``work`` (one whole transaction), and run it again when it lost a deadlock or a
    serialization conflict, up to ``attempts`` times in all.

    For a request: the consumers retry such faults in place, but a person's request answered
    500 because another transaction happened to lock in the opposite order would be asked to
    try again for nothing (an order POST met a deadlock about once in 1,000 in the capacity
    runs). A short random pause lets the winner finish first.
    """
    for attempt in range(1, attempts + 1):
        try:
            return await work()
        except DBAPIError as exc:
            if attempt == attempts or not is_rolled_back_conflict(exc):
                raise
            log.info("transaction lost a lock conflict, running it again", attempt=attempt)
            await asyncio.sleep(random.uniform(0, pause * attempt))
    raise AssertionError("not reached")  # pragma: no cover
