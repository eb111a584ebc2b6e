"""Reporting's maintenance commands.

    python -m services.reporting.cli rebuild          # recompute every figure from the event log
    python -m services.reporting.cli forget-order-ids # erase ids of orders settled long enough ago

Both read the database address from ``CARE_REPORTING_DATABASE_URL`` like the service does,
and run the service's migrations first.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from services.reporting.settings import ReportingSettings
from services.reporting.usecases.rebuilding import rebuild
from services.reporting.usecases.retention import forget_order_ids
from shared.store.db import Database
from shared.store.migrations import ensure_database, upgrade

MIGRATIONS = Path(__file__).parent / "store" / "migrations"


async def _main(command: str, settings: ReportingSettings) -> str:
    url = settings.resolved_database_url()
    await ensure_database(url)
    await upgrade(MIGRATIONS, url)
    db = Database(url, pool_size=1)
    try:
        if command == "rebuild":
            report = await rebuild(db)
            return f"rebuilt every figure from {report.facts} facts about {report.orders} orders"
        erased = await forget_order_ids(db, settings.order_id_retention_days)
        return f"erased the ids of {erased} settled orders"
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.reporting.cli", description=__doc__)
    parser.add_argument("command", choices=["rebuild", "forget-order-ids"])
    args = parser.parse_args(argv)
    print(asyncio.run(_main(args.command, ReportingSettings())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
