"""The register import on real PostgreSQL, through the operator's command.

Each test gets its own throwaway identity database, migrated by the service's own Alembic
history. A month's re-import changes one location, adds one and drops one: the dropped one is
deactivated, never deleted, and the accounts authorised for it keep their history.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import openpyxl  # type: ignore[import-untyped]
import pytest
from sqlalchemy import insert, select

from services.identity import cli
from services.identity.domain.register import parse_register
from services.identity.domain.register_files import read_csv
from services.identity.store import MIGRATIONS
from services.identity.store.register import (
    ImportCounts,
    active_locations_for_email,
    replace_register,
)
from services.identity.store.tables import account_locations, accounts, register_locations
from shared.store.db import Database
from shared.store.migrations import ensure_database, upgrade
from tests.support import infra

pytestmark = pytest.mark.integration

HEADER = [
    "Location ID",
    "Location HSCA start date",
    "Dormant (Y/N)",
    "Care home?",
    "Location Name",
    "Location ODS Code",
    "Care homes beds",
    "Location Inspection Directorate",
    "Location Primary Inspection Category",
    "Location Region",
    "Location Street Address",
    "Location City",
    "Location Postal Code",
    "Provider ID",
    "Provider Name",
    "Location Email",
]


def location(
    location_id: str,
    name: str = "Rose House",
    dormant: str = "N",
    directorate: str = "Adult social care",
    email: str | None = None,
) -> list[str]:
    number = location_id.split("-")[1]
    return [
        location_id,
        "18/07/2011",
        dormant,
        "Y",
        name,
        f"VAB{number}",
        "40",
        directorate,
        "Residential social care",
        "London",
        f"{number} High Street",
        "London",
        "E18 2NS",
        "1-900",
        "Rose Care Ltd",
        f"manager{number}@rose.example" if email is None else email,
    ]


FIRST = [
    ["HSCA Active Locations - 1 March"],
    HEADER,
    location("1-1"),  # line 3
    location("1-2"),
    location("1-3"),  # leaves the register next month
    location("1-4", dormant="Y"),  # line 6
    location("1-5", directorate="Hospitals"),
    location("1-6", email=""),  # line 8
]
SECOND = [
    ["HSCA Active Locations - 1 April"],
    HEADER,
    location("1-1"),  # row 3: unchanged
    location("1-2", name="Rose House Nursing"),  # changed
    location("1-7"),  # new
    location("1-4", dormant="Y"),  # row 6: still dormant
]


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    path.write_bytes(b"\xef\xbb\xbf" + csv_bytes(rows))  # as Excel saves "CSV UTF-8"
    return path


def write_xlsx(path: Path, rows: list[list[str]]) -> Path:
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("HSCA_Active_Locations")
    for row in rows:
        sheet.append([float(c) if c.isdigit() else c for c in row])
    book.save(path)
    return path


@pytest.fixture
async def database(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Database]:
    name = f"care_identity_register_{infra.unique_suffix()}"
    url = f"{infra.PG}/{name}"
    await ensure_database(url)
    await upgrade(MIGRATIONS, url)
    monkeypatch.setenv("CARE_IDENTITY_DATABASE_URL", url)
    db = Database(url, pool_size=1)
    try:
        yield db
    finally:
        await db.dispose()
        await infra.drop_databases([name])


async def run_import(
    path: Path, capsys: pytest.CaptureFixture[str], *flags: str
) -> tuple[int, str, str]:
    """The operator's command, in a thread of its own since it runs its own event loop."""
    code = await asyncio.to_thread(cli.main, ["register", "import", str(path), *flags])
    out, err = capsys.readouterr()
    return code, out, err


def counts_printed(out: str) -> dict[str, int]:
    pattern = r"^\s+(loaded|updated|unchanged|deactivated|skipped)[^:]*:\s+(\d+)$"
    return {name: int(n) for name, n in re.findall(pattern, out, flags=re.MULTILINE)}


async def register(db: Database) -> dict[str, tuple[str, bool]]:
    t = register_locations
    async with db.transaction() as session:
        rows = await session.execute(select(t.c.location_id, t.c.name, t.c.active))
        return {row.location_id: (row.name, row.active) for row in rows}


async def authorise(db: Database, location_id: str) -> uuid.UUID:
    account_id = uuid.uuid4()
    async with db.transaction() as session:
        await session.execute(
            insert(accounts).values(
                id=account_id, email="manager3@rose.example", kind="cqc", role="provider"
            )
        )
        await session.execute(
            insert(account_locations).values(account_id=account_id, location_id=location_id)
        )
    return account_id


async def authorisations(db: Database) -> list[tuple[uuid.UUID, str, object]]:
    t = account_locations
    async with db.transaction() as session:
        rows = await session.execute(select(t.c.account_id, t.c.location_id, t.c.authorised_at))
        return [tuple(row) for row in rows]


async def test_import_then_reimport_through_the_command(
    database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await run_import(write_csv(tmp_path / "march.csv", FIRST), capsys)
    assert (code, err) == (0, "")
    assert counts_printed(out) == {
        "loaded": 3,
        "updated": 0,
        "unchanged": 0,
        "deactivated": 0,
        "skipped": 3,
    }
    assert "line 6: dormant location" in out
    assert "line 7: not adult social care (directorate 'Hospitals')" in out
    assert "line 8: no email address" in out

    account_id = await authorise(database, "1-3")
    history = await authorisations(database)

    # April's drops one of three active locations: far more than 5%, so it needs confirming.
    april = write_xlsx(tmp_path / "april.xlsx", SECOND)
    code, out, err = await run_import(april, capsys, "--confirm-deactivation")
    assert (code, err) == (0, "")
    assert counts_printed(out) == {
        "loaded": 1,
        "updated": 1,
        "unchanged": 1,
        "deactivated": 1,
        "skipped": 1,
    }
    assert "line 6: dormant location" in out
    assert await register(database) == {
        "1-1": ("Rose House", True),
        "1-2": ("Rose House Nursing", True),
        "1-3": ("Rose House", False),  # kept, inactive: not deleted
        "1-7": ("Rose House", True),
    }
    # The account authorised for the location that left keeps that history untouched.
    assert await authorisations(database) == history
    assert history[0][:2] == (account_id, "1-3")
    async with database.transaction() as session:
        assert await active_locations_for_email(session, "manager3@rose.example") == []
        [still] = await active_locations_for_email(session, "manager2@rose.example")
        assert still.name == "Rose House Nursing"

    # March's extract again: 1-3 comes back (an update: reactivated), 1-7 goes.
    code, out, _ = await run_import(tmp_path / "march.csv", capsys, "--confirm-deactivation")
    assert code == 0
    assert counts_printed(out) == {
        "loaded": 0,
        "updated": 2,
        "unchanged": 1,
        "deactivated": 1,
        "skipped": 3,
    }
    assert (await register(database))["1-3"] == ("Rose House", True)


async def test_a_file_that_cannot_be_used_leaves_the_register_as_it_was(
    database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (await run_import(write_csv(tmp_path / "march.csv", FIRST), capsys))[0] == 0
    before = await register(database)

    damaged = tmp_path / "april.xlsx"
    damaged.write_bytes(write_xlsx(tmp_path / "whole.xlsx", SECOND).read_bytes()[:3000])
    only_skipped = write_csv(tmp_path / "dormant.csv", [HEADER, location("1-1", dormant="Y")])
    for path, message in [
        (damaged, "not an Excel workbook that can be read"),
        (only_skipped, "no adult social care locations"),
    ]:
        code, _, err = await run_import(path, capsys)
        assert code == 1
        assert message in err and "Nothing was imported" in err
        assert "Traceback" not in err
    assert await register(database) == before


async def test_an_import_that_fails_part_way_changes_nothing(database: Database) -> None:
    first = parse_register(read_csv(csv_bytes(FIRST))).locations
    second = parse_register(read_csv(csv_bytes(SECOND))).locations
    async with database.transaction() as session:
        assert await replace_register(session, first) == ImportCounts(3, 0, 0, 0)
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            await replace_register(session, second)
            raise RuntimeError("the operator's connection dropped")
    assert {k for k, (_, active) in (await register(database)).items() if active} == {
        "1-1",
        "1-2",
        "1-3",
    }
    async with database.transaction() as session:
        assert await replace_register(session, second, batch=2) == ImportCounts(1, 1, 1, 1)


def extract(count: int, first: int = 100) -> list[list[str]]:
    return [HEADER, *(location(f"1-{n}") for n in range(first, first + count))]


async def test_an_import_that_deactivates_more_than_5_percent_needs_confirming(
    database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sample or partial extract over a real register would lock out most providers."""
    assert (await run_import(write_csv(tmp_path / "full.csv", extract(100)), capsys))[0] == 0
    before = await register(database)

    # 94 of the 100 kept: 6 deactivated is 6%.
    partial = write_csv(tmp_path / "partial.csv", extract(94))
    code, out, err = await run_import(partial, capsys)
    assert code == 1
    assert "would deactivate 6 of the 100 active locations (6%)" in err
    assert "--confirm-deactivation" in err and "Nothing was imported" in err
    assert await register(database) == before

    # 95 of 100 is a month's churn: no confirmation needed.
    code, out, _ = await run_import(write_csv(tmp_path / "may.csv", extract(95)), capsys)
    assert code == 0 and counts_printed(out)["deactivated"] == 5

    code, out, err = await run_import(partial, capsys, "--confirm-deactivation")
    assert (code, err) == (0, "")
    assert counts_printed(out)["deactivated"] == 1


async def test_the_run_command_loads_the_sample_only_into_an_empty_register(
    database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Restarting scripts/run.sh must never replace a register an operator imported."""
    from scripts import run_platform

    operators = write_csv(tmp_path / "operators.csv", extract(40))
    assert (await run_import(operators, capsys))[0] == 0
    imported = await register(database)
    sample = run_platform.ROOT / "data" / "cqc-register-sample.csv"
    args = argparse.Namespace(register=sample, initial_stock=0, state=tmp_path, db_suffix="")
    env = {"CARE_IDENTITY_DATABASE_URL": os.environ["CARE_IDENTITY_DATABASE_URL"]}

    await asyncio.to_thread(run_platform.prepare_data, args, env)
    assert await register(database) == imported
    assert "only into an empty register" in capsys.readouterr().out


async def test_the_sample_loads_into_an_empty_register(
    database: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = await run_import(
        write_csv(tmp_path / "a.csv", extract(3)), capsys, "--only-if-empty"
    )
    assert code == 0 and counts_printed(out)["loaded"] == 3
    code, out, _ = await run_import(
        write_csv(tmp_path / "b.csv", extract(2, 900)), capsys, "--only-if-empty"
    )
    assert code == 0 and "already holds locations" in out
    assert set(await register(database)) == {"1-100", "1-101", "1-102"}
