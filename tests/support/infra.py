"""Real RabbitMQ and PostgreSQL for tests: a fresh vhost and fresh databases per platform.

Each platform gets its own RabbitMQ virtual host and its own five databases, so tests that
need a clean world (stock levels, queue contents) get one without restarting anything.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

PG = "postgresql+asyncpg://postgres@127.0.0.1:5432"
AMQP = "amqp://guest:guest@127.0.0.1:5672"


def _rabbitmqctl(*args: str) -> None:
    exe = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    subprocess.run([exe, "-q", *args], check=True, capture_output=True, timeout=60)


async def create_vhost(name: str) -> str:
    await asyncio.to_thread(_rabbitmqctl, "add_vhost", name)
    await asyncio.to_thread(_rabbitmqctl, "set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    return f"{AMQP}/{name}"


async def delete_vhost(name: str) -> None:
    await asyncio.to_thread(_rabbitmqctl, "delete_vhost", name)


async def drop_databases(names: list[str]) -> None:
    engine = create_async_engine(f"{PG}/postgres", isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        for name in names:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


async def queue_backlogs(vhost: str) -> dict[str, int]:
    """Messages in each queue of ``vhost``, ready and unacknowledged together."""
    exe = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    result = await asyncio.to_thread(
        subprocess.run,
        [exe, "-s", "list_queues", "-p", vhost, "name", "messages"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    pairs = (line.split("\t") for line in result.stdout.splitlines() if "\t" in line)
    return {name: int(count) for name, count in pairs}


def unique_suffix() -> str:
    return uuid.uuid4().hex[:8]
