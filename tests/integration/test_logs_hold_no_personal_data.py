"""A failing statement with personal data in its parameters leaves none of it in the logs
(issue 17, item 4: after a NUL answered 500, the error log held the SQL parameters).

Two layers, each tested on its own against the session's real PostgreSQL: every engine hides
bound parameters from its errors, and exception rendering redacts what an error still echoes
(PostgreSQL's DETAIL line with the duplicate key, parameters from an engine that did not hide
them, pydantic's input_value), so a log line cannot hold it whichever layer is missing.
"""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator

import pytest
from pydantic import BaseModel, ValidationError, field_validator
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from shared.logging import get_logger
from shared.store.db import Database
from tests.support import infra

pytestmark = pytest.mark.integration

EMAIL = "sam.carer@hawthorn-example.org"
NAME = "Samantha Qwertyuiop"
PERSONAL = (EMAIL, NAME, "hawthorn-example")


@pytest.fixture
async def database() -> AsyncIterator[str]:
    name = f"logs_{infra.unique_suffix()}"
    admin = create_async_engine(f"{infra.PG}/postgres", isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    yield f"{infra.PG}/{name}"
    await infra.drop_databases([name])


async def duplicate_and_nul(engine: AsyncEngine) -> list[DBAPIError]:
    """Two statements that fail with the personal data in their parameters."""
    failures: list[DBAPIError] = []
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE people (email text UNIQUE, name text)"))
        await conn.execute(text("INSERT INTO people VALUES (:e, :n)"), {"e": EMAIL, "n": NAME})
    for params in ({"e": EMAIL, "n": NAME}, {"e": "x", "n": NAME + "\x00"}):
        try:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO people VALUES (:e, :n)"), params)
        except DBAPIError as exc:
            failures.append(exc)
    assert len(failures) == 2
    return failures


def log_each(failures: list[BaseException]) -> None:
    """As the API's crash handler and a consumer would: structlog and the standard library."""
    for exc in failures:
        try:
            raise exc
        except BaseException:
            get_logger("tests.crash").exception("unhandled error", path="/api/orders")
            logging.getLogger("tests.library").exception("library error")


async def test_the_services_engines_keep_parameters_out_of_errors(
    database: str, logs: io.StringIO
) -> None:
    db = Database(database)
    try:
        failures = await duplicate_and_nul(db.engine)
    finally:
        await db.dispose()
    for exc in failures:
        assert exc.hide_parameters and "SQL parameters hidden" in str(exc), str(exc)
    log_each(list(failures))
    output = logs.getvalue()
    assert "UniqueViolationError" in output or "IntegrityError" in output, output
    assert not [p for p in PERSONAL if p in output], output


async def test_exception_rendering_redacts_what_an_error_still_echoes(
    database: str, logs: io.StringIO
) -> None:
    """An engine that shows parameters (a library's, a script's) and PostgreSQL's own DETAIL
    line: the raw errors hold the data, the log lines do not."""
    engine = create_async_engine(database)
    try:
        failures: list[BaseException] = list(await duplicate_and_nul(engine))
    finally:
        await engine.dispose()
    assert any(EMAIL in str(exc) for exc in failures)  # the danger is real

    class Contact(BaseModel):
        name: str

        @field_validator("name")
        @classmethod
        def _refuse(cls, value: str) -> str:
            raise ValueError("not a name")

    try:
        Contact(name=NAME)
    except ValidationError as exc:
        assert NAME in str(exc)
        failures.append(exc)
    log_each(failures)
    output = logs.getvalue()
    assert output.count("Traceback (most recent call last)") >= 2 * len(failures), output
    assert "duplicate key value violates unique constraint" in output, output
    assert not [p for p in PERSONAL if p in output], output
