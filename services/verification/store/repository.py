"""Queries the automatic checks run, each in the caller's unit of work."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import array, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.verification.domain.checks import (
    CheckResult,
    LineFacts,
    LocationFacts,
    OrderFacts,
    OtherAccountOrder,
)
from services.verification.domain.postcodes import compact
from services.verification.store import audit
from services.verification.store.tables import (
    accounts,
    authorisations,
    order_locations,
    orders,
)


async def upsert_account(session: AsyncSession, values: dict[str, Any]) -> None:
    stmt = insert(accounts).values(**values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["account_id"], set_=values))


async def save_authorisations(
    session: AsyncSession, account_id: UUID, locations: Sequence[dict[str, Any]]
) -> None:
    for loc in locations:
        stmt = insert(authorisations).values(
            account_id=account_id, location_id=loc["location_id"], details=loc
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["account_id", "location_id"], set_={"details": loc}
            )
        )


async def authorised_locations(
    session: AsyncSession, account_id: UUID
) -> dict[str, LocationFacts] | None:
    """The account's authorised locations, or None if identity has told us of none yet."""
    rows = (
        (
            await session.execute(
                select(authorisations.c.details).where(authorisations.c.account_id == account_id)
            )
        )
        .scalars()
        .all()
    )
    if not rows:
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
        for d in rows
    }


async def insert_order(session: AsyncSession, values: dict[str, Any]) -> dict[str, Any] | None:
    """Store a placed order once; the new row (locked: this transaction inserted it), or None
    if it was already known."""
    values = {
        **values,
        "postcode_key": compact(values["delivery"].get("postcode", ""))[:8],
        "names": [values["delivery"].get("organisation_name", "")],
    }
    row = (
        await session.execute(
            insert(orders).values(**values).on_conflict_do_nothing().returning(*orders.c)
        )
    ).first()
    if row is None:
        return None
    locations = [line["location_id"] for line in values["lines"] if line.get("location_id")]
    if locations:
        await session.execute(
            insert(order_locations).on_conflict_do_nothing(),
            [{"location_id": loc, "order_id": values["order_id"]} for loc in locations],
        )
    return row._asdict()


async def lock_order(session: AsyncSession, order_id: UUID) -> dict[str, Any] | None:
    row = (
        await session.execute(select(orders).where(orders.c.order_id == order_id).with_for_update())
    ).first()
    return row._asdict() if row else None


def facts(order: dict[str, Any]) -> OrderFacts:
    return OrderFacts(
        account_kind=order["account_kind"],
        quantity=order["quantity"],
        lines=[LineFacts(line.get("location_id"), line["staff_count"]) for line in order["lines"]],
        delivery_postcode=order["delivery"].get("postcode", ""),
        organisation_name=order["delivery"].get("organisation_name", ""),
    )


async def lock_account(session: AsyncSession, account_id: UUID) -> None:
    """Take the account's transaction-scoped lock before learning its locations or an order.

    An order that arrives before its account's locations waits for them, and the locations'
    handler checks the orders waiting. Run at the same moment in two transactions, each
    missed the other (neither had committed when the other looked) and the order waited for
    ever; the lock makes the second wait for the first and see what it wrote.
    """
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"account:{account_id}"}
    )


async def serialise_checks(session: AsyncSession, keys: Iterable[str]) -> None:
    """Take a transaction-scoped lock per location, provider and postcode the order touches.

    Two orders from the same organisation checked at the same moment by two consumers would
    otherwise each miss the other (neither is committed when the other looks); with the
    locks the second waits for the first and sees it. Sorted, so two checks never deadlock.
    """
    await session.execute(_LOCK_IN_ORDER, {"keys": sorted(set(keys))})


#: One round trip for every lock: unnest yields the sorted keys in order, one lock each.
_LOCK_IN_ORDER = text(
    "SELECT count(pg_advisory_xact_lock(hashtext(k))) FROM unnest(CAST(:keys AS text[])) AS k"
)


async def locations_with_earlier_orders(session: AsyncSession, order: dict[str, Any]) -> set[str]:
    """Locations of this order that an order placed before it (and not cancelled) covers."""
    locations = [line["location_id"] for line in order["lines"] if line.get("location_id")]
    if not locations:
        return set()
    rows = await session.execute(
        select(order_locations.c.location_id)
        .join(orders, orders.c.order_id == order_locations.c.order_id)
        .where(
            order_locations.c.location_id.in_(locations),
            orders.c.order_id != order["order_id"],
            orders.c.placed_at <= order["placed_at"],
            orders.c.state != "cancelled",
        )
    )
    return set(rows.scalars())


def organisation_keys(provider_ids: Sequence[str], names: Sequence[str]) -> dict[str, Any]:
    """What later orders compare against to spot the same organisation (``set_state(also=)``)."""
    return {"provider_ids": sorted(provider_ids), "names": sorted(set(names))}


async def other_account_orders(
    session: AsyncSession, order: dict[str, Any], provider_ids: Sequence[str]
) -> list[OtherAccountOrder]:
    """Uncancelled orders through other accounts with one of these providers or this postcode."""
    match = orders.c.postcode_key == order["postcode_key"]
    if provider_ids:
        match = match | orders.c.provider_ids.has_any(array(sorted(provider_ids)))
    rows = await session.execute(
        select(orders.c.reference, orders.c.provider_ids, orders.c.postcode_key, orders.c.names)
        .where(
            orders.c.account_id != order["account_id"],
            orders.c.state != "cancelled",
            match,
        )
        .order_by(orders.c.placed_at)
        .limit(50)
    )
    return [
        OtherAccountOrder(
            reference=r.reference,
            provider_ids=frozenset(r.provider_ids),
            postcode=r.postcode_key,
            names=frozenset(r.names),
        )
        for r in rows
    ]


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
    ``also`` sets other columns in the same statement (``organisation_keys``)."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {**(also or {}), "state": state, "version": order["version"] + 1}
    if reasons is not None:
        values["reasons"] = reasons
    if checks is not None:
        values["checks"] = [
            {"check": c.check.value, "passed": c.passed, "detail": c.detail} for c in checks
        ]
        values["reason_codes"] = [c.check.value for c in checks if not c.passed]
    if state in ("verified", "rejected"):
        values.update(decided_by=actor, decided_at=now)
    await session.execute(
        update(orders).where(orders.c.order_id == order["order_id"]).values(**values)
    )
    await audit.record(
        session,
        actor=actor,
        action=action or state,
        order_id=order["order_id"],
        account_id=order["account_id"],
        before={"state": order["state"], "version": order["version"]},
        after={"state": state, "version": order["version"] + 1, "reasons": reasons or []},
        at=now,
    )


async def orders_awaiting_authorisation(
    session: AsyncSession, account_id: UUID
) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(orders)
        .where(orders.c.account_id == account_id, orders.c.state == "awaiting_authorisation")
        .order_by(orders.c.placed_at)
        .with_for_update()
    )
    return [r._asdict() for r in rows]
