"""A copy of their data for the signed-in holder, or for customer services on their behalf.

Asking starts a request (SubjectAccessRequested); every service answers on the bus and the
copy is read from ``/api/subject-access/{request_id}`` as JSON, or as a page from
``.../page``. Only the holder and customer services may read it; anyone else is told it
does not exist.

No ``from __future__ import annotations`` here: FastAPI reads these annotations at runtime.
"""

import uuid
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from services.identity.domain.accounts import Role
from services.identity.domain.subject_access import assemble, render_html
from services.identity.store import repository
from services.identity.store import subject_access as store
from shared.events import SubjectAccessRequested
from shared.http.auth import Principal, require_role
from shared.http.problems import Problem
from shared.runtime import Service


class RequestStarted(BaseModel):
    request_id: UUID
    copy_url: str
    page_url: str
    message: str


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["your data"])
    anyone_signed_in = require_role(service.verifier, *sorted(r.value for r in Role))
    customer_services = require_role(service.verifier, Role.CUSTOMER_SERVICE)

    async def start(account_id: UUID, by: UUID, correlation_id: str) -> RequestStarted:
        request_id = uuid.uuid4()
        async with service.db.transaction() as session:
            if await repository.account_by_id(session, account_id) is None:
                raise Problem(404, "no-such-account", "Account not found", "Check the account ID.")
            await store.add_request(session, request_id, account_id, by)
            await service.emit(
                session,
                SubjectAccessRequested(request_id=request_id, account_id=account_id),
                correlation_id,
            )
        url = f"/api/subject-access/{request_id}"
        return RequestStarted(
            request_id=request_id,
            copy_url=url,
            page_url=f"{url}/page",
            message="We are gathering a copy of everything we hold about this account. It is "
            "usually ready within seconds.",
        )

    @api.post("/account/subject-access", status_code=202, response_model=RequestStarted)
    async def mine(
        request: Request, principal: Principal = Depends(anyone_signed_in)
    ) -> RequestStarted:
        """Ask for a copy of everything held about the signed-in account."""
        return await start(principal.account_id, principal.account_id, _correlation(request))

    @api.post(
        "/accounts/{account_id}/subject-access", status_code=202, response_model=RequestStarted
    )
    async def on_behalf(
        account_id: UUID, request: Request, staff: Principal = Depends(customer_services)
    ) -> RequestStarted:
        """Customer services ask for a holder's copy (they asked by phone or letter)."""
        return await start(account_id, staff.account_id, _correlation(request))

    async def document(request_id: UUID, principal: Principal) -> dict[str, Any]:
        async with service.db.transaction() as session:
            found = await store.find_request(session, request_id)
            allowed = found is not None and (
                principal.role == Role.CUSTOMER_SERVICE
                or found["account_id"] == principal.account_id
            )
            if found is None or not allowed:
                raise Problem(
                    404,
                    "no-such-request",
                    "Request not found",
                    "There is no copy with that ID for your account. Ask for a new one.",
                )
            own = await store.held_about(session, found["account_id"])
            parts = await store.contributions(session, request_id)
        return assemble(request_id, found["account_id"], found["requested_at"], own, parts)

    @api.get("/subject-access/{request_id}")
    async def copy(
        request_id: UUID, principal: Principal = Depends(anyone_signed_in)
    ) -> dict[str, Any]:
        """The copy as JSON; ``complete`` is false while services are still answering."""
        return await document(request_id, principal)

    @api.get("/subject-access/{request_id}/page", response_class=HTMLResponse)
    async def page(request_id: UUID, principal: Principal = Depends(anyone_signed_in)) -> str:
        """The same copy as a page a person can read."""
        return render_html(await document(request_id, principal))

    return api


def _correlation(request: Request) -> str:
    correlation_id: str = request.state.correlation_id
    return correlation_id
