"""The accounts reviewers see beside orders: learnt when registered, kept as the holder
corrects them, and stripped of everything that identifies the person when anonymised."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.verification.store import privacy, repository
from shared.events import AccountDetailsCorrected, AccountRegistered
from shared.runtime import Service


async def remember(session: AsyncSession, registered: AccountRegistered) -> None:
    """Remember the account, to show reviewers who ordered and find orders by email."""
    await repository.upsert_account(session, details(registered))


def details(registered: AccountRegistered) -> dict[str, Any]:
    """What verification keeps of a registered account."""
    return {
        "account_id": registered.account_id,
        "kind": registered.kind.value,
        "email": registered.email,
        "organisation_name": registered.organisation_name,
        "postcode": registered.postcode,
        "phone": registered.phone,
    }


async def correct(session: AsyncSession, corrected: AccountDetailsCorrected) -> None:
    """Reviewers see the organisation and postcode as the holder corrected them."""
    await privacy.correct_account(
        session,
        corrected.account_id,
        organisation_name=corrected.organisation_name,
        postcode=corrected.postcode,
        phone=corrected.phone,
    )


async def forget(session: AsyncSession, service: Service, account_id: UUID) -> None:
    """Keep decisions and the audit trail, drop everything that identifies the person."""
    await privacy.anonymise(session, account_id)
    await service.forget_published(session, [str(account_id)])
