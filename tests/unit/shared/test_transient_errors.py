"""Which database faults are ridden out in place and which count against a message."""

import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from shared.store.errors import is_transient


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
