"""How long the register import takes for a national-size extract, as CSV and as XLSX.

Generates a register of N locations (30,000 by default, roughly CQC's adult social care list)
and a second extract a month on (1% of locations changed, 1% gone, 1% new). For each
format, into its own throwaway database: times parsing (bytes to locations) and storing (one
transaction) separately, for the first import and for the re-import, and checks the counts.
Then times the operator's command itself (``python -m services.identity.cli register import``,
a fresh process on a fresh database, so interpreter start and migrations included).
Prints the figures and writes them to bench/results/.

The XLSX is written by openpyxl, which records no sheet size, so openpyxl scans the sheet once
more to look for one when reading it back; a workbook Excel saved does not cost that pass, so
the XLSX figures are on the slow side.

    .venv/bin/python bench/register_import.py --rows 30000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.register import generate, save  # noqa: E402
from services.identity.domain.register import RegisterLocation, parse_register  # noqa: E402
from services.identity.domain.register_files import reader_for  # noqa: E402
from services.identity.store import MIGRATIONS  # noqa: E402
from services.identity.store.register import ImportCounts, replace_register  # noqa: E402
from shared.store.db import Database  # noqa: E402
from shared.store.migrations import ensure_database, upgrade  # noqa: E402
from tests.support import infra  # noqa: E402

FORMATS = ("csv", "xlsx")


def month_later(rows: list[dict[str, str]]) -> tuple[list[dict[str, str]], int]:
    """The register a month on: 1 location in 100 renamed, another 1 in 100 gone, as many new.
    Returns the rows and how many of each kind of change."""
    changes = len(rows) // 100
    later = [dict(row) for row in rows]
    for row in later[0 : changes * 100 : 100]:
        row["Location Name"] += " (renamed)"
    gone = set(range(1, changes * 100, 100))
    kept = [row for i, row in enumerate(later) if i not in gone]
    return kept + generate(len(rows) + changes)[len(rows) :], changes


def parse(path: Path) -> tuple[list[RegisterLocation], float, float]:
    """The file's locations, and the wall and CPU seconds parsing took (CPU time is what
    other work on the shared cores does not inflate)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    extract = parse_register(reader_for(path.name)(path.read_bytes()))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    assert not extract.skipped, extract.skipped[:5]
    return extract.locations, elapsed, cpu


async def store(url: str, locations: Sequence[RegisterLocation]) -> tuple[ImportCounts, float]:
    db = Database(url, pool_size=1)
    try:
        started = time.perf_counter()
        async with db.transaction() as session:
            counts = await replace_register(session, locations)
        return counts, time.perf_counter() - started
    finally:
        await db.dispose()


async def import_twice(
    first: Path, second: Path, url: str, count: int, changes: int
) -> dict[str, object]:
    await ensure_database(url)
    await upgrade(MIGRATIONS, url)
    figures: dict[str, object] = {}
    expected = {
        "import": ImportCounts(loaded=count, updated=0, unchanged=0, deactivated=0),
        "reimport": ImportCounts(
            loaded=changes, updated=changes, unchanged=count - 2 * changes, deactivated=changes
        ),
    }
    for name, path in (("import", first), ("reimport", second)):
        locations, parse_s, parse_cpu_s = parse(path)
        counts, store_s = await store(url, locations)
        assert counts == expected[name], (name, counts)
        figures[name] = {
            "parse_s": round(parse_s, 2),
            "parse_cpu_s": round(parse_cpu_s, 2),
            "store_s": round(store_s, 2),
            "total_s": round(parse_s + store_s, 2),
            "counts": asdict(counts),
        }
    return figures


def command(path: Path, url: str) -> float:
    """Wall time of the operator's command on a fresh database, as a new process."""
    env = {**os.environ, "CARE_IDENTITY_DATABASE_URL": url}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "services.identity.cli", "register", "import", str(path)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "register-import.json"
    )
    args = parser.parse_args()
    load_before = round(os.getloadavg()[0], 2)

    rows = generate(args.rows)
    later, changes = month_later(rows)
    suffix = infra.unique_suffix()
    databases: list[str] = []
    figures: dict[str, object] = {"rows": args.rows, "changes_each_kind": changes}
    with tempfile.TemporaryDirectory(prefix="care-bench-register-") as tmp:
        folder = Path(tmp)
        try:
            for fmt in FORMATS:
                first, second = folder / f"register.{fmt}", folder / f"register-later.{fmt}"
                save(first, rows)
                save(second, later)
                name = f"care_bench_register_{fmt}_{suffix}"
                databases.append(name)
                url = f"{infra.PG}/{name}"
                result = await import_twice(first, second, url, args.rows, changes)
                result["file_mb"] = round(first.stat().st_size / 1e6, 1)
                cli_db = f"care_bench_register_cli_{fmt}_{suffix}"
                databases.append(cli_db)
                result["command_fresh_s"] = round(
                    await asyncio.to_thread(command, first, f"{infra.PG}/{cli_db}"), 2
                )
                figures[fmt] = result
        finally:
            await infra.drop_databases(databases)

    # The cores are shared: a busy machine slows every figure, so say how busy it was.
    figures["machine"] = {
        "cores": os.cpu_count(),
        "load_average_1min": {"before": load_before, "after": round(os.getloadavg()[0], 2)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
