"""The hottest fixed statements, run on asyncpg's own prepared statements inside the session's
transaction.

Through SQLAlchemy a statement costs 180 to 280 µs of client CPU (compiled-cache lookup,
parameter processing, the cursor adapter, the Result); asyncpg alone runs the same prepared
statement in about 53 (docs/adr/0053-cost-per-order.md). For the few statements every
message runs (the inbox claim, the outbox insert, the relay's claim and mark), :func:`fetch`
takes the session's own connection, so the statement is part of the same transaction and unit
of work: it begins that transaction if SQLAlchemy has not yet, commits and rolls back with it,
and a failure is raised as SQLAlchemy's own error (with the connection invalidated when it was
lost), so retries and ``is_transient`` see what they saw before.

Only fixed SQL with positional parameters (``$1``) belongs here; asyncpg prepares each text
once per connection and keeps it (its statement cache). The parameters skip SQLAlchemy's
types: cast each in the SQL (``$1::uuid``), pass a ``json``/``jsonb`` one as JSON text
(``json.dumps``); a ``jsonb`` result comes back decoded (both by the codec SQLAlchemy's
dialect sets on each connection). :func:`fetch_alone` runs one statement as its own
transaction, for work that is one statement (marking published rows, asking whether any
are due).
"""

from __future__ import annotations

from typing import Any

from asyncpg import Record
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared import tracing


async def fetch(session: AsyncSession, sql: str, *args: Any) -> list[Record]:
    """Run ``sql`` with ``args`` in ``session``'s transaction; the rows it returns."""
    conn = await session.connection()
    fairy = await conn.get_raw_connection()
    adapted: Any = fairy.dbapi_connection
    try:
        async with adapted._execute_mutex:
            if adapted._transaction is None:
                await adapted._start_transaction()
            rows: list[Record] = await adapted.driver_connection.fetch(sql, *args)
            return rows
    except Exception as error:
        await _raise_as_sqlalchemy(conn, adapted, sql, args, error)
        raise  # not reached: _raise_as_sqlalchemy always raises


async def _raise_as_sqlalchemy(
    conn: Any, adapted: Any, sql: str, args: tuple[Any, ...], error: Exception
) -> None:
    dialect = conn.dialect
    try:
        adapted._handle_exception(error)  # the driver's error as the DBAPI adapter's
    except Exception as dbapi_error:
        translated: BaseException = dbapi_error
    else:  # pragma: no cover - _handle_exception always raises
        translated = error
    lost = dialect.is_disconnect(translated, adapted, None)
    if lost:
        await conn.invalidate()
    raise DBAPIError.instance(
        sql,
        None,  # never the parameters: they can hold personal data
        translated,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,
        dialect=dialect,
        connection_invalidated=lost,
    ) from error


async def fetch_alone(engine: AsyncEngine, sql: str, *args: Any) -> list[Record]:
    """Run one statement in a transaction of its own, without BEGIN and COMMIT around it.

    A single statement outside a transaction block is its own transaction in PostgreSQL
    (it commits when it finishes), so where one statement is the whole unit of work, such as
    marking published rows or looking for due ones, this is one round trip instead of three.
    """
    with tracing.child_span("db.statement", **{"db.system.name": "postgresql"}):
        return await _fetch_alone(engine, sql, *args)


async def _fetch_alone(engine: AsyncEngine, sql: str, *args: Any) -> list[Record]:
    async with engine.connect() as conn:  # SQLAlchemy begins nothing until it executes
        fairy = await conn.get_raw_connection()
        adapted: Any = fairy.dbapi_connection
        try:
            async with adapted._execute_mutex:
                rows: list[Record] = await adapted.driver_connection.fetch(sql, *args)
                return rows
        except Exception as error:
            await _raise_as_sqlalchemy(conn, adapted, sql, args, error)
            raise  # not reached: _raise_as_sqlalchemy always raises
