"""What identity tells orders about accounts: who registered (with the address a non-CQC
account's badges go to and the email every account's order emails go to), corrections, and
the CQC locations an account may order for.

Each runs in the consumer's transaction (the handler's session). An anonymised account's
details are never stored again, even if a registration or correction for it arrives late
(events on different queues keep no order between them).

A first sign-in's registration brings its locations too (ADR 0082): the account's lock,
then one statement for the registration and one for the locations, each of which checks,
saves and settles what waited (ADR 0061's lock must come first, alone: see
store/awaiting.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.orders.store import accounts, awaiting, privacy
from services.orders.usecases import awaiting as awaiting_orders
from shared.events import (
    AccountDetailsCorrected,
    AccountRegistered,
    Location,
    LocationsAuthorised,
)
from shared.runtime import Service

#: The details a correction replaces.
CORRECTED = {*accounts.DETAILS, "postcode"}


async def account_registered(
    service: Service, session: AsyncSession, registered: AccountRegistered
) -> None:
    """Keep the account's kind and email, and its organisation and address; confirm the
    orders taken before it arrived. The locations a first sign-in authorised come with the
    registration (ADR 0082) and are kept as a LocationsAuthorised's would be."""
    await awaiting.lock_for_change(session, registered.account_id)
    await awaiting_orders.email_known(
        session,
        registered.account_id,
        {
            "kind": registered.kind.value,
            "email": registered.email,
            "organisation_name": registered.organisation_name,
            "contact_name": registered.contact_name,
            "address_line_1": registered.address_line_1,
            "address_line_2": registered.address_line_2,
            "city": registered.city,
            "postcode": registered.postcode,
        },
    )
    if registered.locations:
        # The account's first snapshot of them: a LocationsAuthorised consumed before it (on
        # its own queue) is newer, and keeps its details.
        known = _by_id(registered.locations)
        await awaiting_orders.deliveries_known(
            service, session, registered.account_id, known, refresh=False
        )


async def details_corrected(session: AsyncSession, corrected: AccountDetailsCorrected) -> None:
    """The holder corrected their organisation, name or address: later orders use it
    (orders already placed keep theirs; customer services correct those)."""
    if await privacy.hold_on(session, corrected.account_id) == privacy.ANONYMISED:
        return
    await accounts.save_correction(
        session, corrected.account_id, corrected.model_dump(include=CORRECTED)
    )


async def locations_authorised(
    service: Service, session: AsyncSession, authorised: LocationsAuthorised
) -> None:
    """Keep the register details of each location an account may order for, and send on the
    orders that were waiting for them (each with the correlation id it was placed with)."""
    await awaiting.lock_for_change(session, authorised.account_id)
    known = _by_id(authorised.locations)
    await awaiting_orders.deliveries_known(service, session, authorised.account_id, known)


def _by_id(locations: list[Location]) -> dict[str, dict[str, Any]]:
    return {loc.location_id: loc.model_dump() for loc in locations}
