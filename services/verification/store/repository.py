"""Queries the automatic checks run, each in the caller's unit of work."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.verification.domain.checks import (
    CheckResult,
    History,
    LineFacts,
    LocationFacts,
    OrderFacts,
    OtherAccountOrder,
)
from services.verification.domain.postcodes import compact
from services.verification.store.tables import orders
from shared.store import prepared

#: The statements every account event and every order runs are fixed SQL on asyncpg's
#: prepared statements (shared/store/prepared.py): one round trip each, and none of
#: SQLAlchemy's per-statement work. jsonb parameters are passed as JSON text.
_ORDER_COLUMNS = ", ".join(column.name for column in orders.c)

#: The account's upsert, its values (``{}``) given by the statement that runs it: on its own
#: (:data:`_UPSERT_ACCOUNT`) or with a registration's locations (:data:`_REGISTER`).
_ACCOUNT_UPSERT = (
    "INSERT INTO accounts (account_id, kind, email, organisation_name, postcode, phone) "
    "VALUES ({}) "
    "ON CONFLICT (account_id) DO UPDATE SET kind = excluded.kind, email = excluded.email, "
    "organisation_name = excluded.organisation_name, postcode = excluded.postcode, "
    "phone = excluded.phone "
    "WHERE NOT accounts.anonymised"  # a registration arriving late brings nothing back
)
_UPSERT_ACCOUNT = _ACCOUNT_UPSERT.format("$1, $2, $3, $4, $5, $6")


async def upsert_account(session: AsyncSession, values: dict[str, Any]) -> None:
    await prepared.fetch(
        session,
        _UPSERT_ACCOUNT,
        values["account_id"],
        values["kind"],
        values.get("email"),
        values.get("organisation_name"),
        values.get("postcode"),
        values.get("phone"),
    )


#: Keep the locations and, in the same round trip, lock and return the account's orders that
#: were waiting for them (almost always none). The select sees what was committed before the
#: statement began, which is after the account lock (its own statement, ``lock_account``), so
#: an order committed by a transaction that held the lock is seen. Nothing is kept for an
#: anonymised account; ``$3`` false keeps details already held (a registration's locations
#: are the account's first snapshot, older than a LocationsAuthorised consumed before it).
_SAVE_AUTHORISATIONS = (
    "WITH saved AS ("  # noqa: S608
    " INSERT INTO authorisations (account_id, location_id, details)"
    " SELECT $1, d ->> 'location_id', d FROM jsonb_array_elements($2::jsonb) AS d"
    " WHERE NOT EXISTS (SELECT FROM accounts WHERE account_id = $1 AND anonymised)"
    " ON CONFLICT (account_id, location_id) DO UPDATE SET details = excluded.details"
    " WHERE $3::boolean"
    f") SELECT {_ORDER_COLUMNS} FROM orders"
    " WHERE account_id = $1 AND state = 'awaiting_authorisation'"
    " ORDER BY placed_at FOR UPDATE"
)


#: :data:`_SAVE_AUTHORISATIONS` with the account itself kept first, as :data:`_UPSERT_ACCOUNT`
#: keeps it: a first sign-in's registration carries both (ADR 0082), one round trip. The
#: check for an anonymised account reads the statement's snapshot, as it did when the upsert
#: (which never changes ``anonymised``) was a statement of its own.
_REGISTER = (
    f"WITH account AS ({_ACCOUNT_UPSERT.format('$1, $4, $5, $6, $7, $8')}), "
    + _SAVE_AUTHORISATIONS.removeprefix("WITH ")
)


async def save_authorisations(
    session: AsyncSession,
    account_id: UUID,
    locations: Sequence[dict[str, Any]],
    *,
    refresh: bool = True,
    account: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Keep the account's authorised locations (and ``account``, its registration's details,
    as :func:`upsert_account` would, in the same statement); its orders that were waiting for
    them, oldest first and locked, to check now. ``refresh`` False keeps details already
    held."""
    # One row per location: the last one given wins, as when they were saved one by one.
    latest = json.dumps(list({loc["location_id"]: loc for loc in locations}.values()))
    if account is None:
        rows = await prepared.fetch(session, _SAVE_AUTHORISATIONS, account_id, latest, refresh)
    else:
        rows = await prepared.fetch(
            session,
            _REGISTER,
            account_id,
            latest,
            refresh,
            account["kind"],
            account.get("email"),
            account.get("organisation_name"),
            account.get("postcode"),
            account.get("phone"),
        )
    return [dict(row) for row in rows]


#: The account's authorised locations and, in the same round trip, a transaction-scoped lock
#: per location, provider and postcode the order touches, taken in sorted order.
#:
#: Two orders from the same organisation checked at the same moment by two consumers would
#: otherwise each miss the other (neither is committed when the other looks); with the locks
#: the second waits for the first and sees it, since the history is read by a later
#: statement. Sorted (byte order, as Python sorts), so two checks never deadlock. The
#: providers are those of the order's locations the account is authorised for.
_AUTHORISED_AND_SERIALISED = (
    "WITH auth AS (SELECT details FROM authorisations WHERE account_id = $1),"
    " keys AS ("
    "  SELECT 'loc:' || l AS k FROM unnest($2::text[]) AS l"
    "  UNION SELECT 'provider:' || (details ->> 'provider_id') FROM auth"
    "   WHERE details ->> 'location_id' = ANY($2::text[])"
    "   AND coalesce(details ->> 'provider_id', '') <> ''"
    "  UNION SELECT 'postcode:' || $3::text"
    " ),"
    " locked AS ("
    "  SELECT count(pg_advisory_xact_lock(hashtext(k))) AS n"
    '  FROM (SELECT k FROM keys ORDER BY k COLLATE "C") AS sorted'
    " )"
    " SELECT auth.details FROM locked LEFT JOIN auth ON true"
)


async def authorised_locations(
    session: AsyncSession, order: dict[str, Any]
) -> dict[str, LocationFacts] | None:
    """The order's account's authorised locations, or None if identity has told us of none
    yet; serialises this order's checks with any other touching the same location, provider
    or postcode until the transaction ends."""
    rows = await prepared.fetch(
        session,
        _AUTHORISED_AND_SERIALISED,
        order["account_id"],
        order_location_ids(order),
        order["postcode_key"],
    )
    found = [row["details"] for row in rows if row["details"] is not None]
    if not found:
        return None
    return {
        d["location_id"]: LocationFacts(
            location_id=d["location_id"],
            provider_id=d.get("provider_id", ""),
            care_home=bool(d.get("care_home")),
            care_home_beds=d.get("care_home_beds"),
            name=d.get("name", ""),
            provider_name=d.get("provider_name", ""),
            inspection_category=d.get("inspection_category", ""),
        )
        for d in found
    }


def order_location_ids(order: dict[str, Any]) -> list[str]:
    return [line["location_id"] for line in order["lines"] if line.get("location_id")]


def placed_order(values: dict[str, Any]) -> dict[str, Any]:
    """A new order as it is kept before its checks: awaiting them, at version 1, with the
    keys the same-organisation check compares later orders against."""
    return {
        **values,
        "state": "awaiting_authorisation",
        "version": 1,
        "postcode_key": compact(values["delivery"].get("postcode", ""))[:8],
        "names": [values["delivery"].get("organisation_name", "")],
        "provider_ids": [],
        "reasons": [],
        "checks": [],
        "reason_codes": [],
        "decided_by": None,
        "decided_at": None,
    }


#: The order, its locations and (once decided) the decision's audit entry in one statement;
#: nothing at all if the order was already known.
_INSERT_ORDER = (
    "WITH placed AS ("
    " INSERT INTO orders (order_id, reference, account_id, account_kind, quantity, placed_at,"
    "  state, lines, delivery, version, reasons, checks, reason_codes, provider_ids,"
    "  postcode_key, names, decided_by, decided_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11::jsonb, $12::jsonb,"
    "  $13::jsonb, $14::jsonb, $15, $16::jsonb, $17, $18)"
    " ON CONFLICT DO NOTHING RETURNING order_id, account_id"
    "), located AS ("
    " INSERT INTO order_locations (location_id, order_id)"
    " SELECT l, order_id FROM placed, unnest($19::text[]) AS l ON CONFLICT DO NOTHING"
    "), audited AS ("
    " INSERT INTO audit_trail (order_id, account_id, actor, action, before, after, at)"
    " SELECT order_id, account_id, $20::varchar, $21, $22::jsonb, $23::jsonb, $24 FROM placed"
    " WHERE $20::varchar IS NOT NULL"
    ") SELECT order_id FROM placed"
)


async def insert_order(
    session: AsyncSession,
    order: dict[str, Any],
    decided: Decided | None = None,
    *,
    actor: str = "",
) -> bool:
    """Store a placed order (``placed_order``) once, awaiting its checks or, with ``decided``,
    as ``set_state`` would leave it after them, audited as ``actor``'s; False if it was
    already known (and nothing was written)."""
    row = order
    entry: tuple[Any, ...] = (None, None, None, None, None)
    if decided is not None:
        if not actor:
            raise ValueError("a decided order is stored with the actor who decided it")
        row, entry = _decided(order, decided, actor)
    rows = await prepared.fetch(
        session,
        _INSERT_ORDER,
        row["order_id"],
        row["reference"],
        row["account_id"],
        row["account_kind"],
        row["quantity"],
        row["placed_at"],
        row["state"],
        json.dumps(row["lines"]),
        json.dumps(row["delivery"]),
        row["version"],
        json.dumps(row["reasons"]),
        json.dumps(row["checks"]),
        json.dumps(row["reason_codes"]),
        json.dumps(row["provider_ids"]),
        row["postcode_key"],
        json.dumps(row["names"]),
        row["decided_by"],
        row["decided_at"],
        order_location_ids(order),
        *entry,
    )
    return bool(rows)


_LOCK_ORDER = f"SELECT {_ORDER_COLUMNS} FROM orders WHERE order_id = $1 FOR UPDATE"  # noqa: S608


async def lock_order(session: AsyncSession, order_id: UUID) -> dict[str, Any] | None:
    rows = await prepared.fetch(session, _LOCK_ORDER, order_id)
    return dict(rows[0]) if rows else None


def facts(order: dict[str, Any]) -> OrderFacts:
    return OrderFacts(
        account_kind=order["account_kind"],
        quantity=order["quantity"],
        lines=[LineFacts(line.get("location_id"), line["staff_count"]) for line in order["lines"]],
        delivery_postcode=order["delivery"].get("postcode", ""),
        organisation_name=order["delivery"].get("organisation_name", ""),
    )


_LOCK_ACCOUNT = "SELECT pg_advisory_xact_lock(hashtext($1))"


async def lock_account(session: AsyncSession, account_id: UUID) -> None:
    """Take the account's transaction-scoped lock before learning its locations or an order.

    An order that arrives before its account's locations waits for them, and the locations'
    handler checks the orders waiting. Run at the same moment in two transactions, each
    missed the other (neither had committed when the other looked) and the order waited for
    ever; the lock makes the second wait for the first and see what it wrote. It is a
    statement of its own: a statement sees what was committed before it began, so what reads
    the account's locations or orders must begin after the lock is held.
    """
    await prepared.fetch(session, _LOCK_ACCOUNT, f"account:{account_id}")


#: Both parts of the history in one round trip: the locations of this order that an earlier
#: uncancelled order covers, and up to 50 uncancelled orders through other accounts with one
#: of these providers or this postcode (oldest first).
_HISTORY = (
    "SELECT ARRAY("
    " SELECT DISTINCT ol.location_id FROM order_locations AS ol"
    " JOIN orders AS o ON o.order_id = ol.order_id"
    " WHERE ol.location_id = ANY($1::text[]) AND o.order_id <> $2 AND o.placed_at <= $3"
    " AND o.state <> 'cancelled'"
    ") AS earlier, ("
    " SELECT coalesce(jsonb_agg(jsonb_build_array(reference, provider_ids, postcode_key, names)"
    "  ORDER BY placed_at), '[]'::jsonb)"
    " FROM (SELECT reference, provider_ids, postcode_key, names, placed_at FROM orders"
    "  WHERE account_id <> $4 AND state <> 'cancelled'"
    "  AND (postcode_key = $5 OR provider_ids ?| $6::text[])"
    "  ORDER BY placed_at LIMIT 50) AS candidates"
    ") AS others"
)


async def history(
    session: AsyncSession, order: dict[str, Any], provider_ids: Sequence[str]
) -> History:
    """What verification has seen before this order: run after ``authorised_locations``
    took the order's locks, so a check of the same organisation just before is seen."""
    rows = await prepared.fetch(
        session,
        _HISTORY,
        order_location_ids(order),
        order["order_id"],
        order["placed_at"],
        order["account_id"],
        order["postcode_key"],
        sorted(provider_ids),
    )
    earlier, others = rows[0]["earlier"], rows[0]["others"]
    return History(
        locations_already_ordered=set(earlier),
        other_accounts=[
            OtherAccountOrder(
                reference=reference,
                provider_ids=frozenset(providers),
                postcode=postcode,
                names=frozenset(names),
            )
            for reference, providers, postcode, names in others
        ],
    )


def organisation_keys(provider_ids: Sequence[str], names: Sequence[str]) -> dict[str, Any]:
    """What later orders compare against to spot the same organisation (``set_state(also=)``)."""
    return {"provider_ids": sorted(provider_ids), "names": sorted(set(names))}


@dataclass(frozen=True)
class Decided:
    """What a decision writes: the state, and what ``set_state`` takes beside it."""

    state: str
    reasons: list[str] | None = None
    checks: Sequence[CheckResult] | None = None
    action: str | None = None
    also: dict[str, Any] | None = None


def _decided(
    order: dict[str, Any], decided: Decided, actor: str
) -> tuple[dict[str, Any], tuple[Any, ...]]:
    """The order as ``decided`` leaves it, and its audit entry (actor, action, before, after,
    at): who did it, before and after."""
    now = datetime.now(UTC)
    row: dict[str, Any] = {
        **order,
        **(decided.also or {}),
        "state": decided.state,
        "version": order["version"] + 1,
    }
    if decided.reasons is not None:
        row["reasons"] = decided.reasons
    if decided.checks is not None:
        row["checks"] = [
            {"check": c.check.value, "passed": c.passed, "detail": c.detail} for c in decided.checks
        ]
        row["reason_codes"] = [c.check.value for c in decided.checks if not c.passed]
    if decided.state in ("verified", "rejected"):
        row.update(decided_by=actor, decided_at=now)
    before = {"state": order["state"], "version": order["version"]}
    after = {"state": decided.state, "version": row["version"], "reasons": decided.reasons or []}
    entry = (actor, decided.action or decided.state, json.dumps(before), json.dumps(after), now)
    return row, entry


#: The decision and its audit entry in one statement. Columns a decision leaves alone are
#: passed as NULL and keep their value.
_SET_STATE = (
    "WITH moved AS ("
    " UPDATE orders SET state = $2, version = $3,"
    "  reasons = coalesce($4::jsonb, reasons), checks = coalesce($5::jsonb, checks),"
    "  reason_codes = coalesce($6::jsonb, reason_codes),"
    "  provider_ids = coalesce($7::jsonb, provider_ids), names = coalesce($8::jsonb, names),"
    "  decided_by = coalesce($9::varchar, decided_by),"
    "  decided_at = coalesce($10::timestamptz, decided_at)"
    " WHERE order_id = $1"
    ") INSERT INTO audit_trail (order_id, account_id, actor, action, before, after, at)"
    " VALUES ($1, $11, $12, $13, $14::jsonb, $15::jsonb, $16)"
)


async def set_state(
    session: AsyncSession,
    order: dict[str, Any],
    state: str,
    *,
    actor: str,
    reasons: list[str] | None = None,
    checks: Sequence[CheckResult] | None = None,
    action: str | None = None,
    also: dict[str, Any] | None = None,
) -> None:
    """Move an order to ``state`` and record who did it, before and after, in the audit trail;
    ``also`` sets the organisation keys in the same statement (``organisation_keys``)."""
    unknown = set(also or {}) - {"provider_ids", "names"}
    if unknown:
        raise ValueError(f"set_state sets no {sorted(unknown)}")
    decided = Decided(state, reasons, checks, action, also)
    row, (actor, action, before, after, at) = _decided(order, decided, actor)

    def changed(column: str, given: bool) -> str | None:
        return json.dumps(row[column]) if given else None

    await prepared.fetch(
        session,
        _SET_STATE,
        order["order_id"],
        state,
        row["version"],
        changed("reasons", reasons is not None),
        changed("checks", checks is not None),
        changed("reason_codes", checks is not None),
        changed("provider_ids", "provider_ids" in (also or {})),
        changed("names", "names" in (also or {})),
        row["decided_by"] if state in ("verified", "rejected") else None,
        row["decided_at"] if state in ("verified", "rejected") else None,
        order["account_id"],
        actor,
        action,
        before,
        after,
        at,
    )
