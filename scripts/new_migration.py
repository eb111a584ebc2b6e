"""Autogenerate a migration for one service: ``python scripts/new_migration.py orders "message"``.

Compares the service's tables with a scratch database migrated to head, so the new revision
holds only what changed.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import uuid
from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.store.migrations import alembic_config, ensure_database, upgrade  # noqa: E402

BASE = "postgresql+asyncpg://postgres@127.0.0.1:5432"


async def main(service: str, message: str) -> None:
    importlib.import_module(f"services.{service}.store.tables")
    migrations = ROOT / "services" / service / "store" / "migrations"
    scratch = f"{BASE}/scratch_{uuid.uuid4().hex[:8]}"
    await ensure_database(scratch)
    try:
        await upgrade(migrations, scratch)
        engine = create_async_engine(scratch)
        async with engine.begin() as conn:

            def _revision(sync_conn: object) -> None:
                cfg = alembic_config(migrations, scratch)
                cfg.attributes["connection"] = sync_conn
                rev_id = f"{len(list((migrations / 'versions').glob('*.py'))) + 1:04d}"
                command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)

            await conn.run_sync(_revision)
        await engine.dispose()
    finally:
        admin = create_async_engine(f"{BASE}/postgres", isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch.rsplit("/", 1)[1]}"'))
        await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
