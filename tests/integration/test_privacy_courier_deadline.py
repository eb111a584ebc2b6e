"""Item 15 of the privacy audit: after the portal closes, the names and addresses held for
the courier are purged by a deadline, whatever the courier reports (ADR 0067). Here the
courier never reports: the parcel stays "with the courier", and its recipient's name and
address still go at the deadline, and not before."""

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text

from services.dispatch.store import closure
from services.dispatch.usecases.closure import purge_courier_data
from tests.support.journeys import order_status, place_order, sign_in, single_location_rows
from tests.support.keys import bearer, mint
from tests.support.platform import Platform, eventually
from tests.support.privacy import rows_mentioning

pytestmark = pytest.mark.integration

RECIPIENT = "Ottilie Never-Reported"
DAYS = 30.0


@pytest.fixture(scope="module")
async def platform() -> AsyncIterator[Platform]:
    async with Platform() as p:
        await p.start_all()
        await p.load_register()
        await p.receive_stock(1_000)
        yield p


async def test_courier_data_goes_at_the_deadline_after_closure_whatever_the_courier_says(
    platform: Platform,
) -> None:
    site = single_location_rows()[11]
    session = await sign_in(platform, site.email, site.ods_code)
    token = session["access_token"]
    placed = await place_order(
        platform, token, [(site.location_id, 5)], site.location_id, contact=RECIPIENT
    )

    async def dispatched() -> bool:
        return (await order_status(platform, token, placed["order_id"]))["status"] == "dispatched"

    await eventually(dispatched)
    async with platform.client("identity") as identity:
        closed = await identity.post("/api/portal/close", headers=bearer(mint("operations")))
    assert closed.status_code == 200, closed.text

    db = platform.service("dispatch").db

    async def closure_heard() -> object:
        async with db.transaction() as s:
            return await closure.closed_at(s)

    closed_at = await eventually(closure_heard)
    assert platform.service("dispatch").settings.courier_data_days_after_closure == DAYS

    async def held() -> dict[str, object]:
        return await rows_mentioning(platform, "dispatch", [RECIPIENT])

    # The courier has said nothing. A day before the deadline the parcel's data is still kept
    # (a failed attempt or a return would need it) ...
    just_before = closed_at + timedelta(days=DAYS) - timedelta(seconds=1)
    assert await purge_courier_data(db, just_before, DAYS) == 0
    assert set(await held()) == {"dispatch_orders", "outbox"}  # the order, the handoff sent

    # ... and at the deadline it goes, whatever the courier reports.
    at_deadline = closed_at + timedelta(days=DAYS)
    assert await purge_courier_data(db, at_deadline, DAYS) >= 2
    assert await held() == {}
    async with db.transaction() as s:
        handoffs = await s.scalar(
            text("SELECT count(*) FROM outbox WHERE event_type = 'CourierHandoff'")
        )
        delivery = await s.scalar(
            text("SELECT delivery::text FROM dispatch_orders WHERE order_id = :o"),
            {"o": placed["order_id"]},
        )
    assert handoffs == 0 and delivery == '{"anonymised": true}'
    # Again: nothing more to do.
    assert await purge_courier_data(db, at_deadline + timedelta(days=1), DAYS) == 0
