"""Correcting one's details (privacy policy, right 2).

A self-registered account's holder corrects their organisation, contact name, address and
phone here; other services hear of it (AccountDetailsCorrected). A CQC provider's details are
CQC's register, so they are told how to have CQC correct them; the next register import
brings the correction. An order's delivery details are corrected on the order (orders).

No ``from __future__ import annotations`` here: FastAPI reads these annotations at runtime.
"""

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from services.identity.api.accounts import Organisation, RegistrationIn
from services.identity.domain.accounts import Role
from services.identity.store import audit, repository
from shared.events import AccountDetailsCorrected, AccountKind
from shared.http.auth import Principal, require_role
from shared.http.problems import Problem
from shared.runtime import Service

CQC_CORRECTIONS = (
    "Your organisation's name, address and email come from the Care Quality Commission's "
    "register. Ask CQC to correct them (https://www.cqc.org.uk/contact-us, or through the "
    "CQC Provider Portal); the correction reaches us with the next copy of the register. "
    "To change who receives an order, correct the order before it is sent."
)


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api", tags=["your data"])
    provider = require_role(service.verifier, Role.PROVIDER)

    @api.put("/account/details", response_model=Organisation)
    async def correct(
        body: Organisation, request: Request, principal: Principal = Depends(provider)
    ) -> Organisation:
        """Correct the details a self-registered account gave."""
        details = _checked(body)
        async with service.db.transaction() as session:
            account = await repository.account_by_id(session, principal.account_id)
            if account is None or not account.active:
                raise Problem(401, "session-ended", "You have been signed out", "Sign in again.")
            if account.kind == AccountKind.CQC:
                raise Problem(409, "register-data", "These details are CQC's", CQC_CORRECTIONS)
            await repository.replace_profile(session, account.id, details)
            await service.emit(
                session,
                AccountDetailsCorrected(account_id=account.id, **details),
                request.state.correlation_id,
            )
            await audit.record(session, audit.Action.DETAILS_CORRECTED, account_id=account.id)
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
