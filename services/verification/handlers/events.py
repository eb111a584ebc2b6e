"""Verification's event handlers: learn accounts and locations, check each placed order, and
bring back to customer services what dispatch could not finish."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.verification.domain.checks import Policy
from services.verification.settings import VerificationSettings
from services.verification.usecases import accounts, checking, follow_ups
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


def register(service: Service, settings: VerificationSettings) -> None:
    """Subscribe verification's handlers on ``service``."""
    checker = checking.Checker(
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
        await checker.take(session, event.payload, event.correlation_id)

    @service.handles(LocationsAuthorised)
    async def locations_authorised(
        session: AsyncSession, event: Envelope[LocationsAuthorised]
    ) -> None:
        """Learn the account's locations and check any of its orders that were waiting."""
        await checker.learn_locations(
            session,
            event.payload.account_id,
            [loc.model_dump() for loc in event.payload.locations],
            event.correlation_id,
        )

    @service.handles(AccountRegistered)
    async def account_registered(session: AsyncSession, event: Envelope[AccountRegistered]) -> None:
        """Remember the account, to show reviewers who ordered and find orders by email; a
        first sign-in's locations come with it (ADR 0082), and orders waiting for them are
        checked."""
        registered = event.payload
        if not registered.locations:
            await accounts.remember(session, registered)
            return
        await checker.learn_locations(
            session,
            registered.account_id,
            [loc.model_dump() for loc in registered.locations],
            event.correlation_id,
            # The account's first snapshot: a LocationsAuthorised consumed before it
            # (on its own queue) is newer and keeps its details.
            refresh=False,
            account=accounts.details(registered),  # kept in the same statement
        )

    @service.handles(OrderCancelled)
    async def order_cancelled(session: AsyncSession, event: Envelope[OrderCancelled]) -> None:
        """A cancelled order leaves the queue and no longer counts as an earlier order."""
        await checking.withdraw(session, event.payload.order_id)

    @service.handles(AccountAnonymised)
    async def account_anonymised(session: AsyncSession, event: Envelope[AccountAnonymised]) -> None:
        """Keep decisions and the audit trail, drop everything that identifies the person."""
        await accounts.forget(session, service, event.payload.account_id)

    @service.handles(ParcelReturned)
    async def parcel_returned(session: AsyncSession, event: Envelope[ParcelReturned]) -> None:
        """The courier brought the parcels back: customer services decide what happens next."""
        await follow_ups.parcel_returned(session, event.payload)

    @service.handles(DeliveryAddressChangeRefused)
    async def address_change_refused(
        session: AsyncSession, event: Envelope[DeliveryAddressChangeRefused]
    ) -> None:
        """Dispatch could not use a corrected address: tell the person who changed it."""
        await follow_ups.address_change_refused(session, event.payload, event.occurred_at)
