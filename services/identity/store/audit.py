"""The security audit trail (ASVS V7.1-7.2): append-only from the service's point of view.

Rows name the account where there is one and otherwise carry keyed hashes of the email and
source address, so a run of failures against one address can be traced without keeping it.
Nothing here ever holds a password, a code typed as one, or a token.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.store.tables import audit_events


class Action(StrEnum):
    SIGNED_IN = "signed_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_IN_REFUSED = "sign_in_refused"  # locked out or the source over its limit
    LOCKED_OUT = "locked_out"
    SIGNED_OUT = "signed_out"
    REFRESH_REUSED = "refresh_reused"
    RESET_REQUESTED = "reset_requested"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - an action name
    REGISTRATION_STARTED = "registration_started"
    ACCOUNT_CREATED = "account_created"
    ACCOUNT_DISABLED = "account_disabled"
    ACCOUNT_ANONYMISED = "account_anonymised"
    STAFF_CREATED = "staff_created"
    ACCOUNT_RESTRICTED = "account_restricted"
    RESTRICTION_LIFTED = "restriction_lifted"
    DETAILS_CORRECTED = "details_corrected"
    PORTAL_CLOSED = "portal_closed"
    PORTAL_DISPOSED = "portal_disposed"
    LOCATION_ADDED = "location_added"
    LOCATION_ADD_FAILED = "location_add_failed"


async def record(
    session: AsyncSession,
    action: Action,
    *,
    account_id: UUID | None = None,
    subject_key: bytes | None = None,
    source_key: bytes | None = None,
    **detail: Any,
) -> None:
    await session.execute(
        audit_events.insert().values(
            action=action.value,
            account_id=account_id,
            subject_key=subject_key,
            source_key=source_key,
            detail=detail,
        )
    )
