"""Reading rows out as plain JSON values, for a copy of someone's data (subject access).

Every service answers a subject access request the same way: a query per table, every row
as a JSON object of its columns, so nothing a table holds can be left out by a hand-picked
field list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession


async def rows_by_table(
    session: AsyncSession, queries: Mapping[str, Select[Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Run each named query; each row becomes a dict of JSON values (UUIDs, times as text,
    binary columns such as digests as PostgreSQL writes them, ``\\x`` and hex)."""
    held: dict[str, list[dict[str, Any]]] = {}
    for name, query in queries.items():
        rows = await session.execute(query)
        held[name] = [
            to_jsonable_python({k: _text(v) for k, v in row._mapping.items()}) for row in rows
        ]
    return held


def _text(value: Any) -> Any:
    """Binary values are not text: shown as PostgreSQL shows them, so the copy reads as the
    database does."""
    return "\\x" + value.hex() if isinstance(value, bytes | memoryview) else value
