"""Every service's answer to a subject access request, wired the same way everywhere.

A service that holds personal data passes the function that reads what it holds about an
account (table by table, see :mod:`shared.store.rows`); the handler sends that back to
identity as SubjectDataProvided, in the consumer's transaction, so a redelivered request is
answered once and a failed one is answered on retry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from shared.events import Envelope, SubjectAccessRequested, SubjectDataProvided
from shared.runtime import Service

HeldAbout = Callable[[AsyncSession, UUID], Awaitable[dict[str, list[dict[str, Any]]]]]


def answer_requests(service: Service, held_about: HeldAbout) -> None:
    """Subscribe ``service`` to SubjectAccessRequested, answering with ``held_about``."""

    @service.handles(SubjectAccessRequested)
    async def subject_access(
        session: AsyncSession, event: Envelope[SubjectAccessRequested]
    ) -> None:
        """Contribute everything this service holds about the account to its copy."""
        account_id = event.payload.account_id
        await service.emit(
            session,
            SubjectDataProvided(
                request_id=event.payload.request_id,
                account_id=account_id,
                service=service.name,
                data=await held_about(session, account_id),
            ),
            event.correlation_id,
        )


def outbox_mentioning(metadata: Any, needles: list[str]) -> Any:
    """The service's outbox rows (events not yet published or still kept after publishing)
    whose body mentions one of ``needles`` (the account's id, its orders', its shipments'):
    what was sent about the person, to the other services or to the courier."""
    from sqlalchemy import or_, select

    table = metadata.tables["outbox"]
    patterns = [table.c.body.contains(needle) for needle in needles if needle]
    # Parts of earlier copies are the copy itself, not something more held about the person.
    return (
        select(table)
        .where(or_(*patterns), table.c.event_type != "SubjectDataProvided")
        .order_by(table.c.id)
    )


#: Every service's tables fall in one of two lists (``tests/unit/test_subject_access_coverage``
#: walks each service's metadata): those its part of a copy reads, and those it leaves out,
#: each with the reason. The transport tables every service has are left out the same way.
TRANSPORT_NOT_IN_THE_COPY = {
    "inbox": "The ids of events already handled (exactly-once delivery), kept 7 days: no content.",
}
