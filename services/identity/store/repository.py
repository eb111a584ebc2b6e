"""Queries over accounts and what they may order for; every function takes the caller's
session (its unit of work)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ARRAY, String, Uuid, bindparam, delete, func, select, union, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.domain.accounts import AccountStatus, Role
from services.identity.domain.register import RegisterLocation
from services.identity.store.tables import (
    account_locations,
    account_profiles,
    accounts,
    register_locations,
    subject_access_contributions,
)
from shared.events import AccountKind


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


async def get_or_create_account(
    session: AsyncSession, email: str, kind: AccountKind, role: Role
) -> Account:
    """The account for this (folded) email, created if there is none; ``created`` says which.

    Insert-first so two simultaneous first sign-ins make one account, not a unique violation.
    """
    new = (
        await session.execute(
            insert(accounts)
            .values(id=uuid.uuid4(), email=email, kind=kind, role=role)
            .on_conflict_do_nothing(index_elements=[accounts.c.email])
            .returning(*_ACCOUNT_COLUMNS)
        )
    ).first()
    if new is not None:
        return _account(new, created=True)
    row = (await session.execute(select(*_ACCOUNT_COLUMNS).where(accounts.c.email == email))).one()
    return _account(row)


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


def _authorise_and_list() -> Any:
    """Authorise locations and read every active location the account may order for, in one
    statement (the select sees the rows the CTE inserts through its RETURNING, not the table)."""
    t = register_locations
    account_id = bindparam("account_id", type_=Uuid)
    wanted = bindparam("location_ids", type_=ARRAY(String))
    added = (
        insert(account_locations)
        .from_select(
            ["account_id", "location_id"],
            select(account_id, func.unnest(wanted)),
        )
        .on_conflict_do_nothing()
        .returning(account_locations.c.location_id)
        .cte("added")
    )
    held = union(
        select(account_locations.c.location_id).where(account_locations.c.account_id == account_id),
        select(added.c.location_id),
    ).subquery("held")
    return (
        select(
            *(t.c[f.name] for f in fields(RegisterLocation)),
            t.c.location_id.in_(select(added.c.location_id)).label("added"),
        )
        .where(t.c.location_id.in_(select(held.c.location_id)), t.c.active)
        .order_by(t.c.location_id)
    )


_AUTHORISE_AND_LIST = _authorise_and_list()


async def authorise_and_list(
    session: AsyncSession, account_id: UUID, location_ids: Iterable[str]
) -> tuple[list[str], list[RegisterLocation]]:
    """``authorise_locations`` and then ``authorised_locations`` in one round trip: the newly
    added location ids, and every active location the account may now order for."""
    rows = await session.execute(
        _AUTHORISE_AND_LIST, {"account_id": account_id, "location_ids": list(location_ids)}
    )
    added: list[str] = []
    held: list[RegisterLocation] = []
    for row in rows:
        values = row._asdict()
        if values.pop("added"):
            added.append(row.location_id)
        held.append(RegisterLocation(**values))
    return added, held


async def mark_announced(session: AsyncSession, account_id: UUID, announced: bytes) -> None:
    """Remember the digest of the LocationsAuthorised just sent for the account."""
    await session.execute(
        update(accounts).where(accounts.c.id == account_id).values(locations_announced=announced)
    )


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


async def save_contribution(
    session: AsyncSession, request_id: UUID, service: str, data: dict[str, Any]
) -> None:
    """Keep one service's part of a subject access request; a resend replaces it."""
    stmt = insert(subject_access_contributions).values(
        request_id=request_id, service=service, data=data
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["request_id", "service"],
            set_={"data": stmt.excluded.data, "received_at": func.now()},
        )
    )
