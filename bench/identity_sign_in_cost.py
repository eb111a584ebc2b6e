"""Statements and client CPU per CQC sign-in, in one process: identity alone on a private
cluster and broker, its app called in-process (no HTTP server, no other service).

Counts every round trip a sign-in's request makes to PostgreSQL and this process's CPU per
sign-in (the outbox relay's publishing of the events included), for a first sign-in (which
makes the account and announces it), a repeat one, and a failed one. ``round_trips`` counts
the statements (through SQLAlchemy and through ``shared.store.prepared``) and the
transactions' BEGIN and COMMIT, unlike the other in-process benches' ``statements``, which
leave BEGIN and COMMIT out; ``statements`` and ``begin_commit`` give the two parts. Before each
case the identity outbox is left with no unpublished row, so the relay's work for the last
case is not counted in the next. Best of ``--rounds`` for the CPU; the counts do not vary.

    .venv/bin/python bench/identity_sign_in_cost.py --accounts 300 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.register import write_register  # noqa: E402
from shared.runtime import Service  # noqa: E402
from tests.support.platform import Platform, eventually  # noqa: E402
from tests.support.round_trips import STATEMENTS, TRANSACTION, RoundTrips, recording  # noqa: E402


async def _sign_ins(
    client: Any, work: list[tuple[str, str]], expect: int, sent: RoundTrips, label: str
) -> float:
    """CPU ms per sign-in; what each request sent is labelled ``label`` in ``sent``."""
    gc.collect()
    started = time.process_time()
    with sent.labelled(label):
        for email, password in work:
            response = await client.post(
                "/api/sign-in", json={"email": email, "password": password}
            )
            assert response.status_code == expect, response.text
    return (time.process_time() - started) / len(work) * 1000


async def _all_published(service: Service) -> bool:
    """Whether the relay has published every event in the outbox (none left unmarked)."""
    outbox = service.outbox_table
    unpublished = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
    async with service.db.transaction() as session:
        return await session.scalar(unpublished) == 0


def _per_sign_in(sent: RoundTrips, label: str, n: int, with_sql: bool) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "round_trips": round(sent.count(label, STATEMENTS + TRANSACTION) / n, 2),
        "statements": round(sent.count(label, STATEMENTS) / n, 2),
        "prepared": round(sent.count(label, ("prepared",)) / n, 2),
        "sqlalchemy": round(sent.count(label, ("sqlalchemy",)) / n, 2),
        "begin_commit": round(sent.count(label, TRANSACTION) / n, 2),
    }
    if with_sql:
        tally = sent.tally(label, STATEMENTS + TRANSACTION)
        figures["sql"] = {k: round(v / n, 2) for k, v in tally.items()}
    return figures


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
        await platform.load_register(state / "register.csv")
        with recording(service.db.engine) as sent:
            async with platform.client("identity") as client:
                # Warm up (compiled caches, prepared statements on the pooled connections).
                warm = [(r["email"], r["ods"]) for r in rows[: args.accounts]]
                await _sign_ins(client, warm, 200, sent, "warm")
                best: dict[str, float] = {}
                for round_ in range(args.rounds):
                    chunk = rows[args.accounts * (round_ + 1) : args.accounts * (round_ + 2)]
                    cases = {
                        "first": ([(r["email"], r["ods"]) for r in chunk], 200),
                        "repeat": ([(r["email"], r["ods"]) for r in chunk], 200),
                        "failed": ([(r["email"], "WRONG0") for r in chunk], 401),
                    }
                    for name, (work, expect) in cases.items():
                        # The relay has published the last case's events.
                        await eventually(lambda: _all_published(service), timeout=60)
                        sent.clear()
                        cpu = await _sign_ins(client, work, expect, sent, name)
                        best[name] = min(best.get(name, cpu), cpu)
                        counts = _per_sign_in(sent, name, args.accounts, args.sql)
                        figures[name] = {"cpu_ms_per_sign_in": round(best[name], 2), **counts}
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
