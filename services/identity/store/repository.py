"""Queries over accounts and what they may order for; every function takes the caller's
session (its unit of work)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.domain.accounts import Role
from services.identity.domain.register import RegisterLocation
from services.identity.store.tables import (
    account_locations,
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
            .returning(accounts.c.id, accounts.c.kind, accounts.c.role, accounts.c.status)
        )
    ).first()
    if new is not None:
        return Account(new.id, email, new.kind, new.role, new.status, created=True)
    row = (
        await session.execute(
            select(accounts.c.id, accounts.c.kind, accounts.c.role, accounts.c.status).where(
                accounts.c.email == email
            )
        )
    ).one()
    return Account(row.id, email, row.kind, row.role, row.status)


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
