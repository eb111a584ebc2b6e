"""Alembic, driven the same way by every service.

Each service keeps its own ``store/migrations`` folder (its schema history) with a two-line
``env.py`` that calls :func:`run_env`. :func:`upgrade` runs them from async code under a
PostgreSQL advisory lock, so several replicas starting at once migrate exactly once.
"""

from __future__ import annotations

import asyncio
import zlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def alembic_config(migrations_dir: Path, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def run_env(metadata: MetaData) -> None:
    """Body of every service's ``env.py``: online migrations over the caller's connection."""
    connection: Connection | None = context.config.attributes.get("connection")
    if connection is not None:
        _migrate(connection, metadata)
        return
    url = context.config.get_main_option("sqlalchemy.url") or ""

    async def _standalone() -> None:
        engine = create_async_engine(url, hide_parameters=True)
        async with engine.begin() as conn:
            await conn.run_sync(_migrate, metadata)
        await engine.dispose()

    asyncio.run(_standalone())


def _migrate(connection: Connection, metadata: MetaData) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def upgrade(migrations_dir: Path, url: str) -> None:
    """Bring the database at ``url`` to the newest revision, once, whoever else is trying."""
    lock_id = zlib.crc32(str(migrations_dir.name + url).encode())
    engine = create_async_engine(url, hide_parameters=True)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})

            def _upgrade(sync_conn: Connection) -> None:
                cfg = alembic_config(migrations_dir, url)
                cfg.attributes["connection"] = sync_conn
                command.upgrade(cfg, "head")

            await conn.run_sync(_upgrade)
    finally:
        await engine.dispose()


async def ensure_database(url: str) -> None:
    """Create the service's database if it does not exist (local runs and tests)."""
    base, _, name = url.rpartition("/")
    name = name.split("?")[0]
    engine = create_async_engine(
        f"{base}/postgres", isolation_level="AUTOCOMMIT", hide_parameters=True
    )
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            )
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
