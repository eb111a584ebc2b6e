"""What a sign-in reads before it decides, in one statement: whether the portal has closed,
the account for the email (if any) and the register's active locations under it.

Every sign-in runs it, so it runs on asyncpg's prepared statement (shared/store/prepared.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.domain.register import RegisterLocation
from services.identity.store.repository import Account
from shared.store import prepared

_REGISTER_COLUMNS = [f.name for f in fields(RegisterLocation)]

#: One row per matching register location, or one row of nulls for them when there is none;
#: the account's columns (null when there is none) and ``closed`` repeat on every row.
_READ = (
    "SELECT EXISTS (SELECT FROM portal WHERE id = 1) AS closed, "  # noqa: S608 - fixed columns
    "a.id AS account_id, a.email AS account_email, a.kind AS account_kind, "
    "a.role AS account_role, a.status AS account_status, "
    "a.password_hash AS account_password_hash, "
    "a.locations_announced AS account_locations_announced, "
    + ", ".join(f"r.{c}" for c in _REGISTER_COLUMNS)
    + " FROM (SELECT $1::varchar AS email) AS e "
    "LEFT JOIN accounts AS a ON a.email = e.email "
    "LEFT JOIN register_locations AS r ON r.email = e.email AND r.active "
    "ORDER BY r.location_id"
)


@dataclass(frozen=True)
class SignInView:
    #: The portal has closed: a sign-in may change no account.
    closed: bool
    account: Account | None
    #: The register's current locations under the email, by location id.
    locations: list[RegisterLocation]


async def read(session: AsyncSession, email: str) -> SignInView:
    """What a sign-in with this (folded) email needs to know, in one statement."""
    rows = await prepared.fetch(session, _READ, email)
    first = rows[0]
    account = None
    if first["account_id"] is not None:
        account = Account(
            UUID(bytes=first["account_id"].bytes),
            first["account_email"],
            first["account_kind"],
            first["account_role"],
            first["account_status"],
            password_hash=first["account_password_hash"],
            locations_announced=first["account_locations_announced"],
        )
    locations = [
        RegisterLocation(**{c: row[c] for c in _REGISTER_COLUMNS})
        for row in rows
        if row["location_id"] is not None
    ]
    return SignInView(bool(first["closed"]), account, locations)
