"""Client CPU per statement for the statements every message runs: the inbox claim and the
outbox insert, through SQLAlchemy (``session.execute``, as before) and through the session's
asyncpg connection (shared/store/prepared.py), in the same process, transaction shape and
database, alternating, best of ``--rounds``. Only this process's CPU is counted, so the figure
holds on a busy machine far better than any rate (docs/adr/0054-cost-per-order-levers.md).

    .venv/bin/python bench/statement_cost.py --statements 2000 --rounds 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import MetaData, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402
from sqlalchemy.schema import CreateTable  # noqa: E402

from shared.events import EventPayload  # noqa: E402
from shared.events.envelope import register  # noqa: E402
from shared.store import inbox, outbox, prepared  # noqa: E402
from shared.store.db import Database  # noqa: E402
from tests.support.private_infra import PrivatePostgres, private_root  # noqa: E402

RESULTS = ROOT / "bench" / "results"


@register
class Measured(EventPayload):
    TYPE = "StatementCostMeasured"
    ROUTING_KEY = "bench.statement-cost"
    n: int


_CLAIM_SQLALCHEMY = text(
    "INSERT INTO inbox (consumer, event_id) "
    "SELECT * FROM unnest(CAST(:consumers AS varchar[]), CAST(:event_ids AS uuid[])) "
    "ON CONFLICT DO NOTHING RETURNING consumer, event_id"
)


async def claim_sqlalchemy(session: AsyncSession, _: Any) -> None:
    result = await session.execute(
        _CLAIM_SQLALCHEMY, {"consumers": ["bench.q"], "event_ids": [uuid.uuid4()]}
    )
    result.all()


async def claim_prepared(session: AsyncSession, _: Any) -> None:
    await inbox.claim_many(session, [("bench.q", uuid.uuid4())])


async def add_sqlalchemy(session: AsyncSession, table: Any) -> None:
    _, row = outbox._row(Measured(n=1), "bench")
    await session.execute(table.insert(), row)


async def add_prepared(session: AsyncSession, table: Any) -> None:
    await outbox.add(session, table, Measured(n=1), "bench")


async def select_one_sqlalchemy(session: AsyncSession, _: Any) -> None:
    (await session.execute(text("SELECT 1"))).all()


async def select_one_prepared(session: AsyncSession, _: Any) -> None:
    await prepared.fetch(session, "SELECT 1")


Statement = Callable[[AsyncSession, Any], Awaitable[None]]
KINDS: dict[str, tuple[Statement, Statement]] = {
    "inbox_claim": (claim_sqlalchemy, claim_prepared),
    "outbox_insert": (add_sqlalchemy, add_prepared),
    "select_1": (select_one_sqlalchemy, select_one_prepared),
}


async def cpu_per_statement(db: Database, table: Any, run: Statement, n: int) -> float:
    """Client CPU µs per statement, a hundred statements per transaction (the transaction's
    own BEGIN and COMMIT, shared alike, are a small part)."""
    started = time.process_time()
    for _ in range(n // 100):
        async with db.transaction() as session:
            await session.execute(text("SELECT 1"))  # the transaction has begun for both
            for _ in range(100):
                await run(session, table)
    return (time.process_time() - started) / n * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--statements", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", default="statement-cost.json")
    args = parser.parse_args()
    root = private_root()
    postgres = PrivatePostgres(root)
    try:
        await asyncio.to_thread(postgres.start)
        db = Database(f"{postgres.url}/postgres")
        metadata = MetaData()
        inbox_t = inbox.inbox_table(metadata)
        outbox_t = outbox.outbox_table(metadata)
        async with db.engine.begin() as conn:
            for table in (inbox_t, outbox_t):
                await conn.execute(CreateTable(table, if_not_exists=True))
        best: dict[str, dict[str, float]] = {}
        for kind, (through_sqlalchemy, through_prepared) in KINDS.items():
            both = (("sqlalchemy", through_sqlalchemy), ("prepared", through_prepared))
            for _, run in both:
                await cpu_per_statement(db, outbox_t, run, 200)  # warm both caches
            figures: dict[str, list[float]] = {"sqlalchemy": [], "prepared": []}
            for _ in range(args.rounds):
                for how, run in both:
                    figures[how].append(await cpu_per_statement(db, outbox_t, run, args.statements))
            best[kind] = {how: round(min(v), 1) for how, v in figures.items()}
            print(kind, best[kind], flush=True)
        await db.dispose()
    finally:
        postgres.remove()
        shutil.rmtree(root, ignore_errors=True)
    result = {
        "statements_per_round": args.statements,
        "rounds": args.rounds,
        "client_cpu_us_per_statement_best": best,
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
