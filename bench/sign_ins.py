"""Sign-ins per second on this machine: CQC register codes (first and repeat sign-ins) and
chosen passwords (argon2id), through the real identity process over HTTP.

Starts the platform with the run command's launcher on its own vhost and databases, so the
figures include the brute-force guard, the session row, the audit row and the outbox events
every sign-in writes.

    .venv/bin/python bench/sign_ins.py --accounts 1000 --concurrency 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.register import write_register  # noqa: E402
from bench.saga_throughput import percentile  # noqa: E402
from services.identity.domain.passwords import hash_password  # noqa: E402
from tests.support import infra  # noqa: E402
from tests.support.launcher import Launched, launch  # noqa: E402

OFFSET = 500
PASSWORD = "bench lantern meadow"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "sign-ins.json")
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="care-bench-"))
    rows = write_register(state / "register.csv", args.accounts)
    platform = await launch(
        state,
        OFFSET,
        "--register",
        str(state / "register.csv"),
        command=(sys.executable, "scripts/run_platform.py"),
    )
    try:
        figures = await drive(platform, rows, args.concurrency)
    finally:
        await platform.stop()
    figures["machine"] = {"cores": os.cpu_count()}
    figures["accounts"] = args.accounts
    figures["concurrency"] = args.concurrency
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


async def drive(
    platform: Launched, rows: list[dict[str, str]], concurrency: int
) -> dict[str, object]:
    url = platform.url("identity", "/api/sign-in")
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def attempt(email: str, password: str) -> None:
            response = await client.post(url, json={"email": email, "password": password})
            response.raise_for_status()

        first = await _run(concurrency, [(r["email"], r["ods"]) for r in rows], attempt)
        repeat = await _run(concurrency, [(r["email"], r["ods"]) for r in rows], attempt)
        chosen = rows[: max(1, len(rows) // 2)]
        await _set_passwords(platform, [r["email"] for r in chosen])
        password = await _run(concurrency, [(r["email"], PASSWORD) for r in chosen], attempt)
    return {"cqc_first_sign_in": first, "cqc_repeat_sign_in": repeat, "password_sign_in": password}


async def _run(
    concurrency: int,
    work: list[tuple[str, str]],
    attempt: Callable[[str, str], Awaitable[None]],
) -> dict[str, float]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(email: str, password: str) -> None:
        async with gate:
            started = time.perf_counter()
            await attempt(email, password)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(e, p) for e, p in work))
    elapsed = time.perf_counter() - started
    return {
        "count": len(work),
        "per_second": round(len(work) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
    }


async def _set_passwords(platform: Launched, emails: list[str]) -> None:
    """As if each holder had used a reset link: one argon2id hash (made once; argon2 salts
    each hash, but verifying costs the same whichever hash is stored)."""
    stored = hash_password(PASSWORD)
    server = infra.PG.replace("postgresql+asyncpg://", "postgresql://")  # the launch's
    connection = await asyncpg.connect(f"{server}/care_identity{platform.suffix}")
    try:
        await connection.execute(
            "UPDATE accounts SET password_hash = $1, password_changed_at = now() "
            "WHERE email = ANY($2::text[])",
            stored,
            emails,
        )
    finally:
        await connection.close()


if __name__ == "__main__":
    asyncio.run(main())
