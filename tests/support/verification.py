"""What identity and orders would publish for verification: authorised locations, CQC orders."""

from __future__ import annotations

import uuid
from typing import Any

from shared.events import (
    AccountKind,
    Delivery,
    Location,
    LocationsAuthorised,
    OrderLine,
    OrderPlaced,
)
from tests.support.events import order_placed
from tests.support.platform import Platform


def location(
    *,
    provider: str | None = None,
    beds: int | None = 20,
    postcode: str = "LS1 4AP",
    name: str | None = None,
) -> Location:
    tag = uuid.uuid4().hex[:8]
    return Location(
        location_id=f"1-L{tag}",
        ods_code=f"V{tag[:4]}",
        name=name or f"Home {tag}",
        address_line_1="1 Road",
        postcode=postcode,
        provider_id=provider or f"1-P{tag}",
        provider_name=f"Provider {tag}",
        care_home=beds is not None,
        care_home_beds=beds,
    )


async def authorise(platform: Platform, *locations: Location) -> uuid.UUID:
    account_id = uuid.uuid4()
    await platform.publish(LocationsAuthorised(account_id=account_id, locations=list(locations)))
    return account_id


def cqc_order(account_id: uuid.UUID, *lines: tuple[Location, int], **delivery: Any) -> OrderPlaced:
    base = order_placed(kind=AccountKind.CQC)
    first = lines[0][0]
    return base.model_copy(
        update={
            "account_id": account_id,
            "lines": [OrderLine(location_id=loc.location_id, staff_count=n) for loc, n in lines],
            "quantity": sum(n for _, n in lines),
            "delivery": Delivery(
                recipient_name="Sam Carer",
                organisation_name=delivery.get("organisation_name", first.name),
                address_line_1=first.address_line_1,
                postcode=delivery.get("postcode", first.postcode),
                location_id=first.location_id,
            ),
        }
    )
