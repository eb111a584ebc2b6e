"""Upgrading reporting to log-spaced times keeps every figure: migration 0003 fills the new
counters from the stored order states with the same rules the service now uses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from services.reporting.domain.progress import Dims, Figures, OrderState, order_figures
from shared.store.migrations import alembic_config, ensure_database, upgrade
from tests.support import infra

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "reporting" / "store" / "migrations"


def states(now: datetime) -> list[OrderState]:
    dims = Dims("London", "Camden", "Residential care", "CQC-registered")
    placed = now - timedelta(days=4, hours=3, seconds=17)
    return [
        # Dispatched under a second, after minutes, after days; one waiting for review since
        # a precise second; one on the waitlist.
        OrderState(
            placed,
            5,
            dims,
            verified_at=placed,
            dispatched_at=placed + timedelta(seconds=0.4),
            dispatched_quantity=5,
            parcels=1,
        ),
        OrderState(
            placed,
            5,
            dims,
            verified_at=placed,
            dispatched_at=placed + timedelta(minutes=7, seconds=3),
            dispatched_quantity=5,
            parcels=1,
        ),
        OrderState(
            placed,
            8,
            dims,
            verified_at=placed,
            dispatched_at=placed + timedelta(days=3, hours=2),
            dispatched_quantity=8,
            parcels=1,
        ),
        OrderState(placed, 40, dims, referred_at=placed + timedelta(seconds=1, microseconds=5)),
        OrderState(
            placed,
            12,
            dims,
            verified_at=placed,
            waitlisted_at=placed + timedelta(minutes=3, seconds=31),
            waitlisted_quantity=12,
        ),
    ]


async def test_migration_0003_fills_the_new_counters_from_each_orders_state() -> None:
    name = f"care_reporting_migration_{infra.unique_suffix()}"
    url = f"{infra.PG}/{name}"
    await ensure_database(url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:

            def to_0002(sync_conn: Connection) -> None:
                cfg = alembic_config(MIGRATIONS, url)
                cfg.attributes["connection"] = sync_conn
                command.upgrade(cfg, "0002")

            await conn.run_sync(to_0002)
            now = datetime.now(UTC)
            orders = states(now)
            await conn.execute(
                text("INSERT INTO order_progress (state) VALUES (CAST(:s AS jsonb))"),
                [{"s": json.dumps(s.to_json())} for s in orders],
            )
            # What 0002 kept: whole hours, and waits by the hour (these go).
            await conn.execute(text("INSERT INTO dispatch_hours VALUES (current_date, 0, 2)"))
            await conn.execute(
                text("INSERT INTO open_items VALUES ('review', date_trunc('hour', now()), 1, 40)")
            )
        await upgrade(MIGRATIONS, url)

        expected = Figures()
        for state in orders:
            expected.add(order_figures(state))
        async with engine.connect() as conn:
            durations = {
                (day, bucket): n
                for day, bucket, n in (
                    await conn.execute(text("SELECT day, bucket, orders FROM dispatch_durations"))
                ).tuples()
            }
            waiting = {
                (kind, since): (o, b)
                for kind, since, o, b in (
                    await conn.execute(text("SELECT kind, since, orders, badges FROM open_items"))
                ).tuples()
            }
        assert durations == dict(expected.dispatch_durations)
        assert waiting == expected.open_items
        assert len(durations) == 3 and len(waiting) == 2
    finally:
        await engine.dispose()
        await infra.drop_databases([name])
