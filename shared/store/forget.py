"""Forgetting a person in the platform's own plumbing: published outbox rows and queued email.

An outbox row is only a record once the broker confirmed it, yet its body may name someone
(OrderPlaced carries the delivery, CourierHandoff the name and address). Retention deletes
such rows after ``outbox_retention_hours``; when an account is anonymised they go at once.
Rows not yet published are left alone: the event must still reach its consumers.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, delete, func, or_
from sqlalchemy.ext.asyncio import AsyncSession


async def forget_published_events(
    session: AsyncSession, outbox: Table, mentioning: Sequence[str]
) -> int:
    """Delete published outbox rows whose body mentions any of ``mentioning`` (ids, refs)."""
    needles = [m for m in mentioning if m]
    if not needles:
        return 0
    result = await session.execute(
        delete(outbox).where(
            outbox.c.published_at.is_not(None),
            or_(*(func.strpos(outbox.c.body, needle) > 0 for needle in needles)),
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def forget_emails_to(session: AsyncSession, email_outbox: Table, recipient: str) -> int:
    """Delete queued or parked email to ``recipient``: the account it was for is gone."""
    result = await session.execute(
        delete(email_outbox).where(func.lower(email_outbox.c.recipient) == recipient.lower())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
