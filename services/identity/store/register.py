"""Writing the register copy and reading it for sign-in; every function takes the caller's
session (its unit of work).

An import is one transaction: either the whole extract replaces the register, or (on any
error) nothing changes, so sign-in never sees half an import.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlalchemy import String, bindparam, func, literal_column, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from services.identity.domain.register import RegisterLocation
from services.identity.store.tables import register_locations

#: Rows handed to one executemany; SQLAlchemy pages them into multi-row INSERTs itself.
BATCH = 1000
_DATA_COLUMNS = [f.name for f in fields(RegisterLocation)]
_IMPORT_LOCK = zlib.crc32(b"identity.register-import")


class WouldDeactivateTooMany(Exception):
    """The extract leaves out more of the active register than a month's changes would: most
    likely the wrong file (a sample, a partial extract). Nothing was changed."""

    def __init__(self, deactivating: int, active: int) -> None:
        super().__init__(f"{deactivating} of {active} active locations")
        self.deactivating, self.active = deactivating, active


@dataclass(frozen=True)
class ImportCounts:
    loaded: int
    updated: int
    unchanged: int
    deactivated: int


async def replace_register(
    session: AsyncSession,
    locations: Sequence[RegisterLocation],
    *,
    batch: int = BATCH,
    max_deactivated_share: float | None = None,
) -> ImportCounts:
    """Upsert every location of the extract and deactivate those it no longer lists.

    Accounts and their authorised locations are left alone: a location leaving the register
    stops signing in, it does not take anyone's account away. With ``max_deactivated_share``
    an extract that would deactivate more than that share of the active locations is refused
    (WouldDeactivateTooMany) before anything changes.
    """
    if not locations:
        raise ValueError("refusing to import an empty register: it would deactivate every location")
    # Two imports at once would each deactivate the other's new rows.
    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _IMPORT_LOCK})
    t = register_locations
    ids = bindparam("ids", [loc.location_id for loc in locations], type_=ARRAY(String))
    leaving = t.c.active & t.c.location_id.not_in(select(func.unnest(ids)).scalar_subquery())
    if max_deactivated_share is not None:
        active, deactivating = (
            await session.execute(
                select(func.count().filter(t.c.active), func.count().filter(leaving)).select_from(t)
            )
        ).one()
        if deactivating > active * max_deactivated_share:
            raise WouldDeactivateTooMany(deactivating, active)
    loaded = updated = 0
    for start in range(0, len(locations), batch):
        rows = [{**asdict(loc), "active": True} for loc in locations[start : start + batch]]
        inserted = (await session.execute(_UPSERT, rows)).scalars().all()
        loaded += sum(1 for new in inserted if new)
        updated += sum(1 for new in inserted if not new)
    deactivated = await session.execute(
        update(t)
        .where(leaving)
        .values(active=False, updated_at=func.now())
        .returning(t.c.location_id)
    )
    return ImportCounts(
        loaded=loaded,
        updated=updated,
        unchanged=len(locations) - loaded - updated,
        deactivated=len(deactivated.all()),
    )


def _upsert() -> ReturningInsert[Any]:
    """Insert new locations, update changed ones; returns True per inserted row, False per
    updated one, nothing for rows that did not change (so re-importing is cheap).

    Built once and run with a list of rows, so SQLAlchemy compiles it once and batches the
    rows into multi-row VALUES itself.
    """
    t = register_locations
    stmt = insert(t)
    compared = [*_DATA_COLUMNS, "active"]
    return stmt.on_conflict_do_update(
        index_elements=[t.c.location_id],
        set_={**{c: stmt.excluded[c] for c in compared}, "updated_at": func.now()},
        where=tuple_(*(t.c[c] for c in compared)).is_distinct_from(
            tuple_(*(stmt.excluded[c] for c in compared))
        ),
    ).returning(literal_column("xmax = 0"))


_UPSERT = _upsert()


async def active_locations_for_email(session: AsyncSession, email: str) -> list[RegisterLocation]:
    """The register's current locations under this (folded) email."""
    t = register_locations
    rows = await session.execute(
        select(*(t.c[c] for c in _DATA_COLUMNS))
        .where(t.c.email == email, t.c.active)
        .order_by(t.c.location_id)
    )
    return [RegisterLocation(**row._asdict()) for row in rows]


async def register_holds_locations(session: AsyncSession) -> bool:
    """Whether anything was ever imported (active or not), under the import's lock."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _IMPORT_LOCK})
    found = await session.execute(select(register_locations.c.location_id).limit(1))
    return found.first() is not None
