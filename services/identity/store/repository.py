"""Queries over accounts and what they may order for; every function takes the caller's
session (its unit of work)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.domain.accounts import AccountStatus, Role
from services.identity.domain.register import RegisterLocation
from services.identity.store.tables import (
    account_locations,
    account_profiles,
    accounts,
    register_locations,
)
from shared.events import AccountKind
from shared.store import prepared


@dataclass(frozen=True)
class Account:
    id: UUID
    email: str
    kind: str
    role: str
    status: str
    created: bool = False
    password_hash: str | None = None
    #: Digest of the last LocationsAuthorised sent for the account (None: never sent).
    locations_announced: bytes | None = None

    @property
    def active(self) -> bool:
        return self.status == AccountStatus.ACTIVE


_ACCOUNT_COLUMNS = (
    accounts.c.id,
    accounts.c.email,
    accounts.c.kind,
    accounts.c.role,
    accounts.c.status,
    accounts.c.password_hash,
    accounts.c.locations_announced,
)


def _account(row: Any, *, created: bool = False) -> Account:
    return Account(
        row.id,
        row.email,
        row.kind,
        row.role,
        row.status,
        created,
        row.password_hash,
        row.locations_announced,
    )


async def find_account(session: AsyncSession, email: str) -> Account | None:
    """The account for this folded email, if there is one."""
    row = (
        await session.execute(select(*_ACCOUNT_COLUMNS).where(accounts.c.email == email))
    ).first()
    return None if row is None else _account(row)


async def account_by_id(session: AsyncSession, account_id: UUID) -> Account | None:
    row = (
        await session.execute(select(*_ACCOUNT_COLUMNS).where(accounts.c.id == account_id))
    ).first()
    return None if row is None else _account(row)


async def create_account(
    session: AsyncSession,
    email: str,
    kind: str,
    role: Role,
    *,
    password_hash: str | None = None,
    now: datetime | None = None,
) -> Account | None:
    """A new account, or None if the email already has one (the caller decides what then)."""
    row = (
        await session.execute(
            insert(accounts)
            .values(
                id=uuid.uuid4(),
                email=email,
                kind=kind,
                role=role,
                password_hash=password_hash,
                password_changed_at=now if password_hash else None,
            )
            .on_conflict_do_nothing(index_elements=[accounts.c.email])
            .returning(*_ACCOUNT_COLUMNS)
        )
    ).first()
    return None if row is None else _account(row, created=True)


async def set_password(
    session: AsyncSession, account_id: UUID, password_hash: str, now: datetime
) -> None:
    await session.execute(
        update(accounts)
        .where(accounts.c.id == account_id)
        .values(password_hash=password_hash, password_changed_at=now)
    )


async def replace_hash(session: AsyncSession, account_id: UUID, old: str, new: str) -> None:
    """Store a stronger hash of the same password (parameters rose); a concurrent password
    change wins, because the update only applies while the old hash is still there."""
    await session.execute(
        update(accounts)
        .where(accounts.c.id == account_id, accounts.c.password_hash == old)
        .values(password_hash=new)
    )


async def set_status(session: AsyncSession, account_id: UUID, status: AccountStatus) -> bool:
    result = await session.execute(
        update(accounts)
        .where(accounts.c.id == account_id)
        .values(status=status)
        .returning(accounts.c.id)
    )
    return result.first() is not None


async def anonymise(session: AsyncSession, account_id: UUID) -> bool:
    """Disable the account and remove everything that says who held it: the email becomes
    a placeholder nobody can receive, the password and profile go."""
    result = await session.execute(
        update(accounts)
        .where(accounts.c.id == account_id)
        .values(
            email=f"anonymised-{account_id.hex}@invalid",
            password_hash=None,
            status=AccountStatus.DISABLED,
        )
        .returning(accounts.c.id)
    )
    await session.execute(
        delete(account_profiles).where(account_profiles.c.account_id == account_id)
    )
    return result.first() is not None


async def save_profile(session: AsyncSession, account_id: UUID, profile: dict[str, str]) -> None:
    await session.execute(insert(account_profiles).values(account_id=account_id, **profile))


async def replace_profile(session: AsyncSession, account_id: UUID, profile: dict[str, str]) -> None:
    await session.execute(
        update(account_profiles)
        .where(account_profiles.c.account_id == account_id)
        .values(**profile)
    )


async def load_profile(session: AsyncSession, account_id: UUID) -> dict[str, str] | None:
    t = account_profiles
    row = (
        await session.execute(
            select(*(c for c in t.c if c.name != "account_id")).where(t.c.account_id == account_id)
        )
    ).first()
    return None if row is None else dict(row._asdict())


#: A CQC provider's first sign-in: the account, the locations it signed in for and the digest
#: of the LocationsAuthorised announcing them, in one statement (none of it if the email
#: already has an account). Every first sign-in runs it, so it runs on asyncpg's prepared
#: statement (shared/store/prepared.py).
_CREATE_PROVIDER = (
    "WITH created AS ("
    "INSERT INTO accounts (id, email, kind, role, locations_announced) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO NOTHING RETURNING id"
    "), authorised AS ("
    "INSERT INTO account_locations (account_id, location_id) "
    "SELECT id, unnest($6::varchar[]) FROM created"
    ") SELECT id FROM created"
)


async def create_provider_account(
    session: AsyncSession,
    email: str,
    location_ids: list[str],
    announced: bytes,
    *,
    account_id: UUID,
) -> Account | None:
    """A new CQC provider account for this (folded) email, authorised for these locations
    and with ``announced`` as the digest of its LocationsAuthorised; None if the email
    already has an account (two first sign-ins at once make one account, not a unique
    violation: the caller signs in to the one that won)."""
    created = await prepared.fetch(
        session,
        _CREATE_PROVIDER,
        account_id,
        email,
        AccountKind.CQC.value,
        Role.PROVIDER.value,
        announced,
        location_ids,
    )
    if not created:
        return None
    return Account(
        account_id,
        email,
        AccountKind.CQC.value,
        Role.PROVIDER.value,
        AccountStatus.ACTIVE.value,
        created=True,
        locations_announced=announced,
    )


async def authorise_locations(
    session: AsyncSession, account_id: UUID, location_ids: Iterable[str]
) -> list[str]:
    """Record that the account may order for these locations; returns the newly added ones."""
    rows = [{"account_id": account_id, "location_id": loc} for loc in location_ids]
    added = await session.execute(
        insert(account_locations)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(account_locations.c.location_id)
    )
    return list(added.scalars())


_REGISTER_COLUMNS = [f.name for f in fields(RegisterLocation)]

#: Authorise locations and read every active location the account may order for, in one
#: statement (the select sees the rows the CTE inserts through its RETURNING, not the table).
#: Every sign-in of an existing CQC account runs it, so it runs on asyncpg's prepared
#: statement (shared/store/prepared.py).
_AUTHORISE_AND_LIST = (
    "WITH added AS ("  # noqa: S608 - the column names are RegisterLocation's fields
    "INSERT INTO account_locations (account_id, location_id) "
    "SELECT $1::uuid, unnest($2::varchar[]) ON CONFLICT DO NOTHING RETURNING location_id"
    ") SELECT "
    + ", ".join(f"r.{c}" for c in _REGISTER_COLUMNS)
    + ", r.location_id IN (SELECT location_id FROM added) AS added "
    "FROM register_locations AS r WHERE r.active AND r.location_id IN ("
    "SELECT location_id FROM account_locations WHERE account_id = $1::uuid "
    "UNION SELECT location_id FROM added) "
    "ORDER BY r.location_id"
)


async def authorise_and_list(
    session: AsyncSession, account_id: UUID, location_ids: Iterable[str]
) -> tuple[list[str], list[RegisterLocation]]:
    """``authorise_locations`` and then ``authorised_locations`` in one round trip: the newly
    added location ids, and every active location the account may now order for."""
    rows = await prepared.fetch(session, _AUTHORISE_AND_LIST, account_id, list(location_ids))
    added: list[str] = []
    held: list[RegisterLocation] = []
    for row in rows:
        if row["added"]:
            added.append(row["location_id"])
        held.append(RegisterLocation(**{c: row[c] for c in _REGISTER_COLUMNS}))
    return added, held


_MARK_ANNOUNCED = "UPDATE accounts SET locations_announced = $2 WHERE id = $1"


async def mark_announced(session: AsyncSession, account_id: UUID, announced: bytes) -> None:
    """Remember the digest of the LocationsAuthorised just sent for the account."""
    await prepared.fetch(session, _MARK_ANNOUNCED, account_id, announced)


async def authorised_locations(session: AsyncSession, account_id: UUID) -> list[RegisterLocation]:
    """The account's authorised locations that are still on the register, with their details."""
    t = register_locations
    rows = await session.execute(
        select(*(t.c[f.name] for f in fields(RegisterLocation)))
        .join(account_locations, account_locations.c.location_id == t.c.location_id)
        .where(account_locations.c.account_id == account_id, t.c.active)
        .order_by(t.c.location_id)
    )
    return [RegisterLocation(**row._asdict()) for row in rows]
