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


async def test_migration_0004_keys_rows_by_reportings_own_identifiers() -> None:
    """ADR 0027: the order ids, event ids and CQC location ids reporting held become keyed
    hashes or go; an order in progress is still found by its id through the new key, and a
    redelivered event is still logged once."""
    from uuid import uuid4

    from services.reporting.store import repository

    name = f"care_reporting_migration_{infra.unique_suffix()}"
    url = f"{infra.PG}/{name}"
    await ensure_database(url)
    engine = create_async_engine(url)
    in_progress, event = uuid4(), uuid4()
    try:
        async with engine.begin() as conn:

            def to_0003(sync_conn: Connection) -> None:
                cfg = alembic_config(MIGRATIONS, url)
                cfg.attributes["connection"] = sync_conn
                command.upgrade(cfg, "0003")

            await conn.run_sync(to_0003)
            await conn.execute(
                text(
                    "INSERT INTO order_progress (order_id, state) VALUES (:o, '{\"quantity\": 7}')"
                ),
                {"o": in_progress},
            )
            await conn.execute(
                text(
                    "INSERT INTO event_log (event_id, event_type, order_ref, fact)"
                    " SELECT :e, 'OrderPlaced', order_ref, '{}' FROM order_progress"
                ),
                {"e": event},
            )
            await conn.execute(text("INSERT INTO location_types VALUES ('1-101', 'Hospice')"))
        await upgrade(MIGRATIONS, url)

        async with engine.connect() as conn:
            columns = {
                (table, column)
                for table, column in (
                    await conn.execute(
                        text(
                            "SELECT table_name, column_name FROM information_schema.columns"
                            " WHERE table_schema = 'public'"
                        )
                    )
                ).tuples()
            }
            tables = {table for table, _ in columns}
            rows = []
            for table in sorted(tables - {"link_key"}):
                rows += (await conn.execute(text(f"SELECT * FROM {table}"))).all()
            dumped = " ".join(str(row) for row in rows)
        assert "location_types" not in tables
        assert ("order_progress", "order_id") not in columns
        assert ("event_log", "event_id") not in columns
        assert str(in_progress) not in dumped and str(event) not in dumped
        assert "1-101" not in dumped

        from sqlalchemy.ext.asyncio import AsyncSession

        async with AsyncSession(engine) as session, session.begin():
            logged = await repository.log_facts(session, [(event, in_progress, "OrderPlaced", {})])
            ref, state = logged.orders[in_progress]
            assert state.quantity == 7 and ref == 1
            assert not logged.fresh
    finally:
        await engine.dispose()
        await infra.drop_databases([name])
