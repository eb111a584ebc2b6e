"""Closing the portal (privacy policy, retention and disposal), end to end on real RabbitMQ and
PostgreSQL: no new accounts or orders, orders in flight cancelled (this platform is set to
cancel them), every account disabled and anonymised, every store of email addresses deleted;
then a scan of every table of every database and of the dead-letter queues finds no email,
name, phone or address of any user."""

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from shared.email import EmailSettings
from tests.support import infra
from tests.support.identity import mail_to, registration, token_in
from tests.support.journeys import order_status, place_order, sign_in, single_location_rows
from tests.support.keys import bearer, mint
from tests.support.mail import SmtpSink
from tests.support.platform import SERVICES, Platform, eventually, settled
from tests.support.privacy import courier_reports, everywhere

pytestmark = pytest.mark.integration

SELF_REGISTERED = registration(
    "morgan@juniper-care.example",
    contact_name="Morgan Fairweather",
    address_line_1="12 Juniper Close",
    postcode="LS6 2QT",
    phone="01632 960 777",
)
SHIPPED_TO, WAITING = "Harper Lindqvist", "Quinn Abernathy"


@pytest.fixture(scope="module")
async def platform(mail: SmtpSink) -> AsyncIterator[Platform]:
    async with Platform() as p:
        for name in SERVICES:
            overrides: dict[str, Any] = {
                "identity": {"email": EmailSettings(smtp_port=mail.port, relay_poll_seconds=0.1)},
                "orders": {"in_flight_on_close": "cancel"},
            }.get(name, {})
            await p.start(name, **overrides)
        await p.load_register()
        await p.receive_stock(10)
        yield p


async def _status(platform: Platform, token: str, order_id: str, status: str) -> bool:
    return (await order_status(platform, token, order_id))["status"] == status


async def _shipment(platform: Platform, token: str, order_id: str) -> str:
    """The courier's shipment reference, which the "dispatched" step carries."""
    history = (await order_status(platform, token, order_id))["history"]
    return next(str(step["detail"]) for step in history if step["status"] == "dispatched")


async def _waiting(platform: Platform, token: str, order_id: str) -> bool:
    """Waitlisted for stock. Its status may read "verified", which outranks it, so look for
    the step in its history."""
    history = (await order_status(platform, token, order_id))["history"]
    return any(step["status"] == "waitlisted" for step in history)


async def _register(platform: Platform, mail: SmtpSink) -> None:
    async with platform.client("identity") as identity:
        started = await identity.post("/api/accounts", json=SELF_REGISTERED)
        assert started.status_code == 202, started.text
        message = await mail_to(
            mail,
            SELF_REGISTERED["email"],
            "Confirm your email address to finish creating your account",
        )
        created = await identity.post("/api/accounts/confirm", json={"token": token_in(message)})
        assert created.status_code == 201, created.text


# --- correction (right 2): these run first, while the portal is open -------------------------


async def test_a_self_registered_holder_corrects_their_details_and_reviewers_see_them(
    platform: Platform, mail: SmtpSink
) -> None:
    await _register(platform, mail)
    session = await sign_in(platform, SELF_REGISTERED["email"], SELF_REGISTERED["password"])
    corrected = {
        "organisation_name": "Juniper Home Support",
        "contact_name": SELF_REGISTERED["contact_name"],
        "address_line_1": SELF_REGISTERED["address_line_1"],
        "address_line_2": "",
        "city": "Leeds",
        "postcode": "ls6 2qt",
        "phone": SELF_REGISTERED["phone"],
    }
    async with platform.client("identity") as identity:
        bad = await identity.put(
            "/api/account/details",
            json=corrected | {"postcode": "not a postcode"},
            headers=bearer(session["access_token"]),
        )
        assert bad.status_code == 422 and "postcode" in bad.text
        done = await identity.put(
            "/api/account/details", json=corrected, headers=bearer(session["access_token"])
        )
        assert done.status_code == 200, done.text
        assert done.json()["postcode"] == "LS6 2QT"
        mine = await identity.get("/api/account", headers=bearer(session["access_token"]))
    assert mine.json()["organisation"]["organisation_name"] == "Juniper Home Support"

    async def reviewers_see_it() -> bool:
        async with platform.service("verification").db.transaction() as s:
            name = await s.scalar(
                text("SELECT organisation_name FROM accounts WHERE account_id = :id"),
                {"id": session["account_id"]},
            )
        return name == "Juniper Home Support"

    await eventually(reviewers_see_it)


async def test_a_cqc_holder_is_told_how_to_correct_register_data_and_corrects_the_recipient(
    platform: Platform,
) -> None:
    site = single_location_rows()[9]
    session = await sign_in(platform, site.email, site.ods_code)
    token = session["access_token"]
    async with platform.client("identity") as identity:
        refused = await identity.put(
            "/api/account/details",
            json={
                "organisation_name": "X",
                "contact_name": "Y",
                "address_line_1": "1 Road",
                "address_line_2": "",
                "city": "Leeds",
                "postcode": "LS1 4AP",
                "phone": "01632 960 000",
            },
            headers=bearer(token),
        )
    assert refused.status_code == 409 and "Ask CQC to correct them" in refused.json()["detail"]

    # More badges than the stock: the order waits, so it can still be corrected.
    placed = await place_order(platform, token, [(site.location_id, 20)], site.location_id)
    await eventually(lambda: _waiting(platform, token, placed["order_id"]))
    async with platform.client("orders") as orders:
        fixed = await orders.put(
            f"/api/orders/{placed['order_id']}/recipient",
            json={"contact_name": "Rowan Corrected"},
            headers=bearer(token),
        )
    assert fixed.status_code == 200, fixed.text

    await settled(platform)
    await platform.receive_stock(20)
    await eventually(lambda: _status(platform, token, placed["order_id"], "dispatched"))
    sent = await platform.drain("courier.courier.handoff")
    handoffs = [json.loads(m.body)["payload"] for m in sent]
    assert [h["recipient_name"] for h in handoffs if h["postcode"] == site.postcode] == [
        "Rowan Corrected"
    ]
    async with platform.client("orders") as orders:
        late = await orders.put(
            f"/api/orders/{placed['order_id']}/recipient",
            json={"contact_name": "Too Late"},
            headers=bearer(token),
        )
    assert late.status_code == 409 and late.json()["type"].endswith("already-sent")
    shipment = await _shipment(platform, token, placed["order_id"])
    await courier_reports(platform, shipment, "delivered")


# --- closure ---------------------------------------------------------------------------------


async def test_closing_the_portal_leaves_no_personal_data_anywhere(
    platform: Platform, mail: SmtpSink
) -> None:
    shipped_site, waiting_site = single_location_rows()[5:7]
    shipped = await sign_in(platform, shipped_site.email, shipped_site.ods_code)
    waiting = await sign_in(platform, waiting_site.email, waiting_site.ods_code)
    with_courier = await place_order(
        platform,
        shipped["access_token"],
        [(shipped_site.location_id, 4)],
        shipped_site.location_id,
        contact=SHIPPED_TO,
    )
    await eventually(
        lambda: _status(platform, shipped["access_token"], with_courier["order_id"], "dispatched")
    )
    # Kept now: anonymising the account clears the words beside its order's steps.
    shipment = await _shipment(platform, shipped["access_token"], with_courier["order_id"])
    in_flight = await place_order(
        platform,
        waiting["access_token"],
        [(waiting_site.location_id, 50)],
        waiting_site.location_id,
        contact=WAITING,
    )  # more than the stock left: it waits
    await eventually(lambda: _waiting(platform, waiting["access_token"], in_flight["order_id"]))
    # A message nobody could handle is parked with the name in it.
    await platform.publish(
        json.dumps({"type": "OrderPlaced", "payload": {"recipient_name": WAITING}}).encode(),
        routing_key="order.placed",
    )

    operations = bearer(mint("operations"))
    async with platform.client("identity") as identity:
        assert (await identity.post("/api/portal/dispose", headers=operations)).status_code == 409
        closed = await identity.post("/api/portal/close", headers=operations)
        assert closed.status_code == 200 and closed.json()["state"] == "closed", closed.text
        late = await identity.post(
            "/api/accounts", json=registration("late@example.org", password="quiet lantern x")
        )
        assert late.status_code == 403 and late.json()["type"].endswith("portal-closed")

    # Orders hears of it: no new orders; the waiting order is cancelled, the shipped one goes on.
    async def refused() -> dict[str, Any] | None:
        async with platform.client("orders") as orders:
            answer = await orders.post(
                "/api/orders",
                json={
                    "lines": [{"location_id": shipped_site.location_id, "staff_count": 1}],
                    "deliver_to_location_id": shipped_site.location_id,
                    "contact_name": SHIPPED_TO,
                },
                headers=bearer(shipped["access_token"]),
            )
        body: dict[str, Any] = answer.json()
        return body if answer.status_code == 403 else None

    assert (await eventually(refused))["type"].endswith("portal-closed")
    await eventually(
        lambda: _status(platform, waiting["access_token"], in_flight["order_id"], "cancelled")
    )
    assert await _status(platform, shipped["access_token"], with_courier["order_id"], "dispatched")

    async def parked() -> bool:
        """Each consumer of OrderPlaced has parked its copy of the message."""
        backlog = await infra.queue_backlogs(platform.vhost)
        return all(
            backlog.get(f"{consumer}.order.placed.dlq", 0) > 0
            for consumer in ("verification", "dispatch")
        )

    await eventually(parked)
    async with platform.client("identity") as identity:
        disposed = await identity.post("/api/portal/dispose", headers=operations)
    assert disposed.status_code == 200, disposed.text
    assert disposed.json()["state"] == "disposed"
    assert disposed.json()["accounts_anonymised"] == 4
    assert disposed.json()["dead_letters_purged"] >= 2

    # The parcel already with the courier is delivered; then its name and address go too.
    await courier_reports(platform, shipment, "delivered")

    needles = [
        SELF_REGISTERED["email"],
        SELF_REGISTERED["contact_name"],
        SELF_REGISTERED["address_line_1"],
        SELF_REGISTERED["phone"],
        "LS6 2QT",
        "Juniper Home Support",
        "Rowan Corrected",
        SHIPPED_TO,
        WAITING,
    ]
    for site in (shipped_site, waiting_site):
        needles += [site.email, site.postcode]
    found: dict[str, Any] = {}

    async def nothing_left() -> bool:
        found.update(left=await everywhere(platform, needles))
        return not found["left"]

    try:
        await eventually(nothing_left)
    except AssertionError as failed:
        raise AssertionError(f"personal data left after closure: {found['left']}") from failed

    async def dead_letters_empty() -> bool:
        """The broker's queue counts trail a purge by a few seconds for quorum queues."""
        backlog = await infra.queue_backlogs(platform.vhost)
        return not any(n for q, n in backlog.items() if q.endswith(".dlq"))

    await eventually(dead_letters_empty)

    # Nobody can sign in any more, with a password or with the register's codes.
    async with platform.client("identity") as identity:
        for email, password in (
            (SELF_REGISTERED["email"], SELF_REGISTERED["password"]),
            (shipped_site.email, shipped_site.ods_code),
        ):
            again = await identity.post("/api/sign-in", json={"email": email, "password": password})
            assert again.status_code == 403 and again.json()["type"].endswith("portal-closed")
