"""The security audit trail (ASVS V7.1-7.2): append-only from the service's point of view.

Rows name the account where there is one and otherwise carry keyed hashes of the email and
source address, so a run of failures against one address can be traced without keeping it.
Nothing here ever holds a password, a code typed as one, or a token.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from shared.store import prepared


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


#: An audit row's insert, its values (``{}``) given by the statement that runs it: on its own
#: (:data:`_RECORD`) or beside a sign-in's new session (store/sessions.py).
INSERT = (
    "INSERT INTO audit_events (action, account_id, subject_key, source_key, detail) VALUES ({})"
)
#: Many requests write one, so it runs on asyncpg's prepared statement
#: (shared/store/prepared.py).
_RECORD = INSERT.format("$1, $2, $3, $4, $5::jsonb")


async def record(
    session: AsyncSession,
    action: Action,
    *,
    account_id: UUID | None = None,
    subject_key: bytes | None = None,
    source_key: bytes | None = None,
    **detail: Any,
) -> None:
    await prepared.fetch(
        session, _RECORD, action.value, account_id, subject_key, source_key, json.dumps(detail)
    )
