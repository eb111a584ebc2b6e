"""A copy of their data over HTTP, for the signed-in holder or for customer services on
their behalf (the rules are in ``services.identity.usecases.subject_access``).

The copy is read from ``/api/subject-access/{request_id}`` as JSON, or as a page from
``.../page``; anyone but the holder and customer services is told it does not exist (404).

No ``from __future__ import annotations`` here: FastAPI reads these annotations at runtime.
"""

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from services.identity.api.requests import correlation_id
from services.identity.domain.accounts import Role
from services.identity.domain.subject_access import render_html
from services.identity.usecases import subject_access
from shared.http.auth import Principal, require_role
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

    async def start(account_id: UUID, by: UUID, request: Request) -> RequestStarted:
        request_id = await subject_access.start(service, account_id, by, correlation_id(request))
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
        return await start(principal.account_id, principal.account_id, request)

    @api.post(
        "/accounts/{account_id}/subject-access", status_code=202, response_model=RequestStarted
    )
    async def on_behalf(
        account_id: UUID, request: Request, staff: Principal = Depends(customer_services)
    ) -> RequestStarted:
        """Customer services ask for a holder's copy (they asked by phone or letter)."""
        return await start(account_id, staff.account_id, request)

    async def document(request_id: UUID, reader: Principal) -> dict[str, Any]:
        return await subject_access.read_copy(service, request_id, reader.account_id, reader.role)

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
