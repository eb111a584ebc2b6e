"""Verification's event handlers: learn accounts and locations, check each placed order, and
bring back to customer services what dispatch could not finish."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.verification.domain.checks import Policy
from services.verification.handlers.checking import Checker
from services.verification.settings import VerificationSettings
from services.verification.store import audit, backoffice, repository
from services.verification.store.tables import accounts, authorisations, notes, orders
from shared.events import (
    AccountAnonymised,
    AccountRegistered,
    DeliveryAddressChangeRefused,
    Envelope,
    LocationsAuthorised,
    OrderCancelled,
    OrderPlaced,
    ParcelReturned,
)
from shared.runtime import Service
from shared.store.forget import forget_published_events

ANONYMISED_NOTE = "(removed when the account was anonymised)"


def register(service: Service, settings: VerificationSettings) -> None:
    """Subscribe verification's handlers on ``service``."""
    checker = Checker(
        service,
        Policy(
            settings.max_badges_per_bed,
            settings.manual_check_threshold,
            settings.similar_name_ratio,
            settings.max_badges_without_beds,
            settings.max_badges_by_category,
        ),
    )

    @service.handles(OrderPlaced)
    async def order_placed(session: AsyncSession, event: Envelope[OrderPlaced]) -> None:
        """Check a new order now, or once its account's locations reach us."""
        placed = event.payload
        await repository.lock_account(session, placed.account_id)
        fresh = await repository.insert_order(
            session,
            {
                "order_id": placed.order_id,
                "reference": placed.reference,
                "account_id": placed.account_id,
                "account_kind": placed.account_kind.value,
                "quantity": placed.quantity,
                "placed_at": placed.placed_at,
                "state": "awaiting_authorisation",
                "lines": [line.model_dump() for line in placed.lines],
                "delivery": placed.delivery.model_dump(),
            },
        )
        if fresh is not None:
            await checker.check(session, fresh, event.correlation_id)

    @service.handles(LocationsAuthorised)
    async def locations_authorised(
        session: AsyncSession, event: Envelope[LocationsAuthorised]
    ) -> None:
        """Learn the account's locations and check any of its orders that were waiting."""
        account_id = event.payload.account_id
        await repository.lock_account(session, account_id)
        await repository.save_authorisations(
            session, account_id, [loc.model_dump() for loc in event.payload.locations]
        )
        for order in await repository.orders_awaiting_authorisation(session, account_id):
            await checker.check(session, order, event.correlation_id)

    @service.handles(AccountRegistered)
    async def account_registered(session: AsyncSession, event: Envelope[AccountRegistered]) -> None:
        """Remember the account, to show reviewers who ordered and find orders by email."""
        p = event.payload
        await repository.upsert_account(
            session,
            {
                "account_id": p.account_id,
                "kind": p.kind.value,
                "email": p.email,
                "organisation_name": p.organisation_name,
                "postcode": p.postcode,
                "phone": p.phone,
            },
        )

    @service.handles(OrderCancelled)
    async def order_cancelled(session: AsyncSession, event: Envelope[OrderCancelled]) -> None:
        """A cancelled order leaves the queue and no longer counts as an earlier order."""
        order = await repository.lock_order(session, event.payload.order_id)
        if order is not None and order["state"] in ("awaiting_authorisation", "referred"):
            await repository.set_state(session, order, "cancelled", actor="account")

    @service.handles(AccountAnonymised)
    async def account_anonymised(session: AsyncSession, event: Envelope[AccountAnonymised]) -> None:
        """Keep decisions and the audit trail, drop everything that identifies the person."""
        account_id = event.payload.account_id
        await session.execute(
            update(accounts)
            .where(accounts.c.account_id == account_id)
            .values(email=None, organisation_name=None, postcode=None, phone=None)
        )
        await session.execute(
            update(orders)
            .where(orders.c.account_id == account_id)
            .values(delivery={"anonymised": True}, names=[], postcode_key="")
        )
        await session.execute(
            update(notes)
            .where(notes.c.order_id.in_(backoffice.account_order_ids(account_id)))
            .values(note=ANONYMISED_NOTE)
        )
        await audit.forget_personal(session, account_id)
        await session.execute(
            delete(authorisations).where(authorisations.c.account_id == account_id)
        )
        await forget_published_events(session, service.outbox_table, [str(account_id)])

    @service.handles(ParcelReturned)
    async def parcel_returned(session: AsyncSession, event: Envelope[ParcelReturned]) -> None:
        """The courier brought the parcels back: customer services decide what happens next."""
        p = event.payload
        await backoffice.raise_follow_up(
            session,
            p.order_id,
            "parcel_returned",
            f"The courier returned shipment {p.shipment_reference} ({p.parcel_count} parcels, "
            f"{p.quantity} badges) undelivered: contact the organisation, correct the address "
            "if needed, and arrange what happens next.",
            p.returned_at,
        )

    @service.handles(DeliveryAddressChangeRefused)
    async def address_change_refused(
        session: AsyncSession, event: Envelope[DeliveryAddressChangeRefused]
    ) -> None:
        """Dispatch could not use a corrected address: tell the person who changed it."""
        p = event.payload
        await backoffice.raise_follow_up(
            session,
            p.order_id,
            "address_change_refused",
            f"The address correction was not used: {p.reason}",
            event.occurred_at,
            raised_for=str(p.changed_by),
        )
