"""Which database faults are ridden out in place and which count against a message."""

import asyncpg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from shared.store.errors import again_after_conflicts, is_transient


class DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "transient"),
    [
        ("08006", True),
        ("53300", True),
        ("57P01", True),
        ("40001", True),
        ("40P01", True),
        ("23505", False),
        ("22P02", False),
        ("42P01", False),
    ],
)
def test_sqlstates(sqlstate: str, transient: bool) -> None:
    assert is_transient(DBAPIError("SELECT 1", {}, DriverError(sqlstate))) is transient


def test_a_lost_connection_is_transient_and_a_bug_is_not() -> None:
    assert is_transient(OperationalError("SELECT 1", {}, Exception("gone")))
    assert is_transient(ConnectionResetError())
    assert not is_transient(IntegrityError("INSERT", {}, DriverError("23505")))
    assert not is_transient(ValueError("a bug"))
    assert not is_transient(KeyError("missing"))


def _conflict(exc: Exception) -> DBAPIError:
    return DBAPIError("SELECT 1", None, exc)


async def test_work_that_lost_a_lock_conflict_runs_again_and_nothing_else_does() -> None:
    tries: list[int] = []

    async def deadlocks_twice() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise _conflict(asyncpg.exceptions.DeadlockDetectedError("deadlock detected"))
        return "done"

    assert await again_after_conflicts(deadlocks_twice, pause=0) == "done"
    assert len(tries) == 3

    async def always_serialisation_failure() -> None:
        tries.append(1)
        raise _conflict(asyncpg.exceptions.SerializationError("could not serialize"))

    tries.clear()
    with pytest.raises(DBAPIError):
        await again_after_conflicts(always_serialisation_failure, attempts=2, pause=0)
    assert len(tries) == 2  # gives up after its attempts

    async def connection_lost() -> None:
        tries.append(1)
        raise _conflict(asyncpg.exceptions.ConnectionDoesNotExistError("gone"))

    tries.clear()
    with pytest.raises(DBAPIError):
        await again_after_conflicts(connection_lost, pause=0)
    assert len(tries) == 1  # the commit may have happened: not run again here
