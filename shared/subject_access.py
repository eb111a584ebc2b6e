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
