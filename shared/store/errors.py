"""Telling a passing fault of the database from a real failure of the handler.

A dropped connection, a full connection table, a restart in progress, a deadlock or a
serialization failure say nothing about the message: the same work will succeed shortly.
Such faults are retried in place rather than counted against the message's delivery limit,
so an outage does not send good messages to the dead-letter queue.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

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
