"""Queries behind the back office: the queue, an order's whole story, search, notes and
follow-ups. Each runs in the caller's unit of work."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.verification.domain.postcodes import compact
from services.verification.domain.queue import (
    QueueFilter,
    SearchKind,
    reference_key,
    search_kind,
)
from services.verification.store import audit
from services.verification.store.tables import (
    accounts,
    authorisations,
    follow_ups,
    notes,
    orders,
    reviewers,
)

SUMMARY = (
    orders.c.order_id,
    orders.c.reference,
    orders.c.account_id,
    orders.c.account_kind,
    orders.c.quantity,
    orders.c.placed_at,
    orders.c.state,
    orders.c.reasons,
    orders.c.reason_codes,
    orders.c.version,
)


async def review_queue(session: AsyncSession, wanted: QueueFilter) -> list[dict[str, Any]]:
    """Referred orders matching the filter, oldest placed first."""
    query = select(*SUMMARY).where(orders.c.state == "referred")
    if wanted.reason:
        query = query.where(orders.c.reason_codes.contains([wanted.reason]))
    if wanted.kind:
        query = query.where(orders.c.account_kind == wanted.kind)
    if wanted.size is not None:
        low, high = wanted.size.bounds
        query = query.where(orders.c.quantity >= low)
        if high is not None:
            query = query.where(orders.c.quantity <= high)
    return await _rows(session, query.order_by(orders.c.placed_at, orders.c.order_id))


async def order_detail(session: AsyncSession, order_id: UUID) -> dict[str, Any] | None:
    """Everything a reviewer needs about one order, or None if there is no such order."""
    row = (await session.execute(select(orders).where(orders.c.order_id == order_id))).first()
    if row is None:
        return None
    order = row._asdict()
    account = (
        await session.execute(select(accounts).where(accounts.c.account_id == order["account_id"]))
    ).first()
    locations = [line["location_id"] for line in order["lines"] if line.get("location_id")]
    register = (
        await session.execute(
            select(authorisations.c.details).where(
                authorisations.c.account_id == order["account_id"],
                authorisations.c.location_id.in_(locations),
            )
        )
    ).scalars()
    order.update(
        account=account._asdict() if account else None,
        register_entries=list(register),
        other_orders=await _rows(
            session,
            select(*SUMMARY)
            .where(orders.c.account_id == order["account_id"], orders.c.order_id != order_id)
            .order_by(orders.c.placed_at),
        ),
        notes=await _rows(
            session, select(notes).where(notes.c.order_id == order_id).order_by(notes.c.id)
        ),
        follow_ups=await _rows(
            session,
            select(follow_ups).where(follow_ups.c.order_id == order_id).order_by(follow_ups.c.id),
        ),
        audit=await audit.entries(session, order_id=order_id),
    )
    who = {order["decided_by"] or ""} | {e["actor"] for e in order["audit"]}
    who |= {n["author"] for n in order["notes"]} | {
        f["resolved_by"] for f in order["follow_ups"] if f["resolved_by"]
    }
    order["names"] = await reviewer_names(session, who - {""})
    return order


async def search(session: AsyncSession, query: str) -> list[dict[str, Any]]:
    """Orders for a caller on the phone: by reference, account email or delivery postcode."""
    kind = search_kind(query)
    wanted = query.strip()
    statement = select(*SUMMARY)
    if kind is SearchKind.REFERENCE:
        statement = statement.where(
            func.replace(func.upper(orders.c.reference), "-", "") == reference_key(wanted)
        )
    elif kind is SearchKind.EMAIL:
        statement = statement.join(accounts, accounts.c.account_id == orders.c.account_id).where(
            func.lower(accounts.c.email) == wanted.lower()
        )
    else:
        statement = statement.where(orders.c.postcode_key == compact(wanted))
    return await _rows(session, statement.order_by(orders.c.placed_at).limit(100))


async def remember_reviewer(session: AsyncSession, account_id: str, name: str) -> None:
    stmt = insert(reviewers).values(account_id=account_id, name=name)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["account_id"], set_={"name": name, "seen_at": func.now()}
        )
    )


async def reviewer_names(session: AsyncSession, ids: set[str]) -> dict[str, str]:
    """Names for the account ids decisions were recorded under ("automatic" and the like
    are not ids and stay as they are)."""
    if not ids:
        return {}
    rows = await session.execute(
        select(reviewers.c.account_id, reviewers.c.name).where(reviewers.c.account_id.in_(ids))
    )
    return {row.account_id: row.name for row in rows}


async def add_note(session: AsyncSession, order_id: UUID, author: str, note: str) -> None:
    await session.execute(notes.insert().values(order_id=order_id, author=author, note=note))


async def set_delivery(
    session: AsyncSession, order: dict[str, Any], delivery: dict[str, Any]
) -> None:
    """Correct the delivery address; the version moves so a stale page cannot overwrite it."""
    await session.execute(
        update(orders)
        .where(orders.c.order_id == order["order_id"])
        .values(
            delivery=delivery,
            postcode_key=compact(delivery.get("postcode", ""))[:8],
            version=order["version"] + 1,
        )
    )


async def raise_follow_up(
    session: AsyncSession,
    order_id: UUID,
    kind: str,
    detail: str,
    raised_at: datetime,
    raised_for: str | None = None,
) -> None:
    await session.execute(
        follow_ups.insert().values(
            order_id=order_id, kind=kind, detail=detail, raised_at=raised_at, raised_for=raised_for
        )
    )


async def open_follow_ups(session: AsyncSession) -> list[dict[str, Any]]:
    """What came back after a decision and still needs a person, oldest first."""
    return await _rows(
        session,
        select(follow_ups, orders.c.reference)
        .join(orders, orders.c.order_id == follow_ups.c.order_id, isouter=True)
        .where(follow_ups.c.resolved_at.is_(None))
        .order_by(follow_ups.c.raised_at, follow_ups.c.id),
    )


async def lock_follow_up(session: AsyncSession, follow_up_id: int) -> dict[str, Any] | None:
    row = (
        await session.execute(
            select(follow_ups).where(follow_ups.c.id == follow_up_id).with_for_update()
        )
    ).first()
    return row._asdict() if row else None


async def resolve_follow_up(session: AsyncSession, follow_up_id: int, by: str) -> None:
    await session.execute(
        update(follow_ups)
        .where(follow_ups.c.id == follow_up_id)
        .values(resolved_by=by, resolved_at=datetime.now(UTC))
    )


def account_order_ids(account_id: UUID) -> Select[tuple[UUID]]:
    return select(orders.c.order_id).where(orders.c.account_id == account_id)


async def _rows(session: AsyncSession, query: Select[Any]) -> list[dict[str, Any]]:
    return [row._asdict() for row in await session.execute(query)]
