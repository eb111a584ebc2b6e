"""Correcting one's details over HTTP (privacy policy, right 2; the rules are in
``services.identity.usecases.accounts``): the details pass the same checks, with the same
messages, as when the account was created. An order's delivery details are corrected on the
order (orders).

No ``from __future__ import annotations`` here: FastAPI reads these annotations at runtime.
"""

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from services.identity.api.accounts import Organisation, RegistrationIn
from services.identity.api.requests import correlation_id
from services.identity.domain.accounts import Role
from services.identity.usecases import accounts
from shared.http.auth import Principal, require_role
from shared.runtime import Service


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["your data"])
    provider = require_role(service.verifier, Role.PROVIDER)

    @api.put("/account/details", response_model=Organisation)
    async def correct(
        body: Organisation, request: Request, principal: Principal = Depends(provider)
    ) -> Organisation:
        """Correct the details a self-registered account gave."""
        details = _checked(body)
        await accounts.correct_details(
            service, principal.account_id, details, correlation_id(request)
        )
        return Organisation(**details)

    return api


def _checked(body: Organisation) -> dict[str, str]:
    """The details through the same rules (and messages) as when the account was created."""
    try:
        checked = RegistrationIn.model_validate(
            body.model_dump()
            | {"organisation_type": "non_cqc", "email": "x@example.org", "password": "x"}
        )
    except ValidationError as invalid:
        raise RequestValidationError(
            [
                {**e, "loc": ("body", *e["loc"])}
                for e in invalid.errors()
                if e["loc"][0] not in {"email", "password"}
            ]
        ) from invalid
    return checked.profile()
