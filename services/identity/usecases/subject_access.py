"""A copy of their data for the holder, or for customer services on their behalf.

Asking starts a request (SubjectAccessRequested); every service answers on the bus and the
copy is assembled from their parts when read. Only the holder and customer services may read
it; anyone else is told it does not exist.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from services.identity.domain.accounts import Role
from services.identity.domain.subject_access import assemble
from services.identity.store import repository
from services.identity.store import subject_access as store
from services.identity.usecases.refusals import no_such_account
from shared.events import SubjectAccessRequested
from shared.runtime import Service
from shared.usecases import NotFound


async def start(service: Service, account_id: UUID, by: UUID, correlation_id: str) -> UUID:
    """Ask every service for what it holds about the account; the request's id."""
    request_id = uuid.uuid4()
    async with service.db.transaction() as session:
        if await repository.account_by_id(session, account_id) is None:
            raise no_such_account()
        await store.add_request(session, request_id, account_id, by)
        await service.emit(
            session,
            SubjectAccessRequested(request_id=request_id, account_id=account_id),
            correlation_id,
        )
    return request_id


async def read_copy(
    service: Service, request_id: UUID, reader_id: UUID, reader_role: str
) -> dict[str, Any]:
    """The copy so far (``complete`` is false while services are still answering), for
    its holder or customer services."""
    async with service.db.transaction() as session:
        found = await store.find_request(session, request_id)
        allowed = found is not None and (
            reader_role == Role.CUSTOMER_SERVICE or found["account_id"] == reader_id
        )
        if found is None or not allowed:
            raise NotFound(
                "no-such-request",
                "There is no copy with that ID for your account. Ask for a new one.",
                title="Request not found",
            )
        own = await store.held_about(session, found["account_id"])
        parts = await store.contributions(session, request_id)
    return assemble(request_id, found["account_id"], found["requested_at"], own, parts)
