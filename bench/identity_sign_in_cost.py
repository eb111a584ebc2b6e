"""Statements and client CPU per CQC sign-in, in one process: identity alone on a private
cluster and broker, its app called in-process (no HTTP server, no other service).

Counts every statement a sign-in's request runs (through SQLAlchemy and through
``shared.store.prepared``, plus the transaction's BEGIN and COMMIT) and this process's CPU
per sign-in (the outbox relay's publishing of the events included), for a first sign-in
(which makes the account and announces it), a repeat one, and a failed one. Best of
``--rounds`` for the CPU; the counts do not vary.

    .venv/bin/python bench/identity_sign_in_cost.py --accounts 300 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import gc
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from bench.register import write_register  # noqa: E402
from shared.store import prepared  # noqa: E402
from tests.support.platform import Platform  # noqa: E402

_COUNTING: contextvars.ContextVar[Counter[str] | None] = contextvars.ContextVar(
    "counting", default=None
)


def _count(kind: str, sql: str) -> None:
    tally = _COUNTING.get()
    if tally is not None:
        tally[kind] += 1
        tally["statements"] += 1
        tally[f"sql: {' '.join(sql.split())[:90]}"] += 1


def _instrument(engine: Any) -> None:
    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        _count("sqlalchemy", statement)

    @event.listens_for(engine.sync_engine, "begin")
    def begin(conn: Any) -> None:
        _count("begin/commit", "BEGIN")

    @event.listens_for(engine.sync_engine, "commit")
    def commit(conn: Any) -> None:
        _count("begin/commit", "COMMIT")

    original = prepared.fetch

    async def fetch(session: Any, sql: str, *args: Any) -> Any:
        _count("prepared", sql)
        return await original(session, sql, *args)

    prepared.fetch = fetch  # type: ignore[assignment]


async def _sign_ins(client: Any, work: list[tuple[str, str]], expect: int) -> tuple[float, Any]:
    tally: Counter[str] = Counter()
    token = _COUNTING.set(tally)
    gc.collect()
    started = time.process_time()
    try:
        for email, password in work:
            response = await client.post(
                "/api/sign-in", json={"email": email, "password": password}
            )
            assert response.status_code == expect, response.text
    finally:
        _COUNTING.reset(token)
    cpu = (time.process_time() - started) / len(work) * 1000
    return cpu, tally


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--sql", action="store_true", help="print each statement's count")
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="care-bench-"))
    total = args.accounts * (args.rounds + 1)
    rows = write_register(state / "register.csv", total)
    figures: dict[str, Any] = {}
    async with Platform() as platform:
        service = await platform.start(
            "identity", uniform_response_seconds=0, source_failure_limit=10**6
        )
        _instrument(service.db.engine)
        await platform.load_register(state / "register.csv")
        async with platform.client("identity") as client:
            # Warm up (compiled caches, prepared statements on the pooled connections).
            warm = [(r["email"], r["ods"]) for r in rows[: args.accounts]]
            await _sign_ins(client, warm, 200)
            best: dict[str, float] = {}
            tallies: dict[str, Any] = {}
            for round_ in range(args.rounds):
                chunk = rows[args.accounts * (round_ + 1) : args.accounts * (round_ + 2)]
                cases = {
                    "first": ([(r["email"], r["ods"]) for r in chunk], 200),
                    "repeat": ([(r["email"], r["ods"]) for r in chunk], 200),
                    "failed": ([(r["email"], "WRONG0") for r in chunk], 401),
                }
                for name, (work, expect) in cases.items():
                    await asyncio.sleep(0.5)  # let the relay publish the last round's events
                    cpu, tally = await _sign_ins(client, work, expect)
                    best[name] = min(best.get(name, cpu), cpu)
                    tallies[name] = tally
        for name, cpu in best.items():
            tally = tallies[name]
            n = args.accounts
            figures[name] = {
                "cpu_ms_per_sign_in": round(cpu, 2),
                "statements": round(tally["statements"] / n, 2),
                "prepared": round(tally["prepared"] / n, 2),
                "sqlalchemy": round(tally["sqlalchemy"] / n, 2),
                "begin_commit": round(tally["begin/commit"] / n, 2),
            }
            if args.sql:
                figures[name]["sql"] = {
                    k[5:]: round(v / n, 2) for k, v in tally.items() if k.startswith("sql: ")
                }
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
