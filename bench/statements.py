"""Statements per order, counted by PostgreSQL itself (pg_stat_statements).

Profiles of every service put the database client's own work (asyncpg's protocol, the event
loop's I/O, SQLAlchemy's statement handling) at the top: the number of statements an order
costs is what to cut, so the capacity benchmark can count them (``--statements``). The
extension is loaded only for such a run (it costs the server a little per statement), on the
benchmark's own cluster. It counts top-level statements as the services send them, with their
parameters replaced by placeholders: no value a user typed is read or kept.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

#: Added to the benchmark cluster's settings when statements are counted.
POSTGRES_SETTINGS = (
    "shared_preload_libraries=pg_stat_statements",
    "pg_stat_statements.max=5000",
)

#: (database, query id) -> (calls, the statement's normalised text)
Census = dict[tuple[str, int], tuple[int, str]]


async def read(postgres_url: str) -> Census:
    """Every statement each platform database has run so far, with its count."""
    import asyncpg  # the benchmark's own dependency, as the services use it

    dsn = postgres_url.replace("postgresql+asyncpg://", "postgresql://") + "/postgres"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        rows = await conn.fetch(
            "SELECT d.datname, s.queryid, sum(s.calls)::bigint AS calls, min(s.query) AS query"
            " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
            " WHERE d.datname LIKE 'care_%' GROUP BY d.datname, s.queryid"
        )
    finally:
        await conn.close()
    return {
        (row["datname"].removeprefix("care_"), int(row["queryid"] or 0)): (
            int(row["calls"]),
            row["query"],
        )
        for row in rows
    }


def per_order(before: Census, after: Census, orders: int, top: int = 12) -> dict[str, Any]:
    """Statements per order for each database and in all, and each database's most frequent
    statements per order (their text shortened), from two readings."""
    if not orders:
        return {}
    calls: dict[tuple[str, int], int] = {}
    for key, (n, _) in after.items():
        grown = n - before.get(key, (0, ""))[0]
        if grown > 0:
            calls[key] = grown
    by_database: dict[str, int] = defaultdict(int)
    for (database, _), n in calls.items():
        by_database[database] += n
    busiest: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (database, query_id), n in sorted(calls.items(), key=lambda kv: -kv[1]):
        if len(busiest[database]) < top:
            text = " ".join(after[(database, query_id)][1].split())
            busiest[database].append({"per_order": round(n / orders, 2), "statement": text[:160]})
    return {
        "total": round(sum(by_database.values()) / orders, 1),
        "by_database": {
            d: round(n / orders, 1) for d, n in sorted(by_database.items(), key=lambda kv: -kv[1])
        },
        "busiest": dict(busiest),
    }
