"""Accounts not on CQC's register order through the API, on real RabbitMQ and PostgreSQL: the
badges go to the address they registered, a person checks the order, one order per
organisation, a local authority tops up once its earlier order has been sent, and every order
placed through the API is confirmed by email to the address the account registered with."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

from shared.email import EmailSettings
from shared.events import AccountDetailsCorrected, AccountRestricted
from tests.support.identity import mail_to, registration
from tests.support.journeys import order_status, place_order, sign_in, single_location_rows
from tests.support.keys import bearer, mint
from tests.support.mail import SmtpSink
from tests.support.own_address import approve, order_when_ready, referred, register
from tests.support.own_address import order as place
from tests.support.platform import SERVICES, Platform, eventually, settled

pytestmark = pytest.mark.integration

PASSWORD = "quiet lantern meadow"


@pytest.fixture(scope="module")
async def platform(mail: SmtpSink) -> AsyncIterator[Platform]:
    email = EmailSettings(smtp_port=mail.port, relay_poll_seconds=0.1)
    async with Platform() as p:
        for name in SERVICES:
            overrides: dict[str, Any] = {
                "identity": {"email": email, "uniform_response_seconds": 0.05},
                "orders": {"email": email},
            }.get(name, {})
            await p.start(name, **overrides)
        await p.load_register()
        await p.receive_stock(100_000)
        yield p


async def published(platform: Platform, order_id: str) -> dict[str, Any]:
    """The OrderPlaced orders published for the order."""
    async with platform.service("orders").db.transaction() as s:
        bodies = (
            await s.execute(text("SELECT body FROM outbox WHERE event_type = 'OrderPlaced'"))
        ).scalars()
        for body in bodies:
            payload = (json.loads(body) if isinstance(body, str) else body)["payload"]
            if payload["order_id"] == order_id:
                return payload  # type: ignore[no-any-return]
    raise AssertionError(f"no OrderPlaced for {order_id}")


async def status_is(platform: Platform, token: str, order_id: str, status: str) -> bool:
    return (await order_status(platform, token, order_id))["status"] == status


async def test_a_non_cqc_provider_orders_to_its_registered_address_once(
    platform: Platform, mail: SmtpSink
) -> None:
    body = registration(
        "robin@hilltop-care.example",
        organisation_name="Hilltop Home Care",
        address_line_1="4 Mill Lane",
        address_line_2="Clifton",
        city="York",
        postcode="yo1 7hh",
    )
    session = await register(platform, mail, body)
    token = session["access_token"]
    placed = await order_when_ready(platform, token, 12)
    assert placed["quantity"] == 12 and placed["top_up"] is False

    event = await published(platform, placed["order_id"])
    assert event["account_kind"] == "non_cqc" and event["top_up"] is False
    assert event["lines"] == [{"location_id": None, "staff_count": 12}]
    assert event["delivery"] == {
        "recipient_name": "Sam Patel",
        "organisation_name": "Hilltop Home Care",
        "address_line_1": "4 Mill Lane",
        "address_line_2": "Clifton",
        "city": "York",
        "postcode": "YO1 7HH",
        "location_id": None,
    }
    # A person checks every order from outside CQC's register.
    state = await eventually(lambda: referred(platform, placed["order_id"]))
    assert any("not registered with CQC" in reason for reason in state["reasons"])
    # The API passes no email: the one the account registered with is used.
    confirmation = await mail_to(
        mail, body["email"], f"CARE badges order {placed['reference']} received"
    )
    assert (
        "A member of our team will check your order"
        in confirmation.get_body(("plain",)).get_content()
    )

    # One order per organisation: a second is explained and not taken.
    again = await place(platform, token, staff_count=3)
    assert again.status_code == 409, again.text
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["type"].endswith("/organisation-already-ordered")
    async with platform.client("orders") as orders:
        mine = (await orders.get("/api/orders", headers=bearer(token))).json()
    assert [o["order_id"] for o in mine] == [placed["order_id"]]

    # Cancelled before it is sent, it no longer stands in the way.
    async with platform.client("orders") as orders:
        cancelled = await orders.post(
            f"/api/orders/{placed['order_id']}/cancel", headers=bearer(token)
        )
    assert cancelled.status_code == 204
    assert (await place(platform, token, staff_count=11)).status_code == 201


async def test_the_shape_of_an_order_depends_on_the_kind_of_account(
    platform: Platform, mail: SmtpSink
) -> None:
    session = await register(
        platform,
        mail,
        registration("jo@jo-pa.example", organisation_type="personal_assistant"),
    )
    token = session["access_token"]
    site = single_location_rows()[2]
    with_lines = await place(
        platform,
        token,
        lines=[{"location_id": site.location_id, "staff_count": 1}],
        deliver_to_location_id=site.location_id,
    )
    without_count = await place(platform, token)
    cqc = await sign_in(platform, site.email, site.ods_code)
    cqc_with_count = await place(platform, cqc["access_token"], staff_count=4)
    not_a_number = await place(platform, token, staff_count="4")
    for answer, field in (
        (with_lines, "lines"),
        (without_count, "staff_count"),
        (cqc_with_count, "staff_count"),
        (not_a_number, "staff_count"),
    ):
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in answer.json()["errors"]] == [field]


async def test_a_local_authority_tops_up_once_its_earlier_order_has_been_sent(
    platform: Platform, mail: SmtpSink
) -> None:
    body = registration(
        "badges@northshire.gov.example",
        organisation_type="local_authority",
        organisation_name="Northshire Council",
        address_line_1="County Hall",
        city="Leeds",
        postcode="LS1 1UR",
    )
    session = await register(platform, mail, body)
    token = session["access_token"]
    first = await order_when_ready(platform, token, 40)
    assert first["top_up"] is False

    # While the first order is still being checked, a second one is not taken.
    waiting = await place(platform, token, staff_count=5)
    assert waiting.status_code == 409, waiting.text
    assert waiting.json()["type"].endswith("/earlier-order-waiting")
    assert first["reference"] in waiting.json()["detail"]

    await approve(platform, first["order_id"])
    await eventually(lambda: status_is(platform, token, first["order_id"], "dispatched"))
    top_up = await place(platform, token, staff_count=5)
    assert top_up.status_code == 201, top_up.text
    assert top_up.json()["top_up"] is True and top_up.json()["quantity"] == 5
    event = await published(platform, top_up.json()["order_id"])
    assert event["top_up"] is True and event["account_kind"] == "local_authority"
    assert event["delivery"]["organisation_name"] == "Northshire Council"
    await eventually(lambda: referred(platform, top_up.json()["order_id"]))
    confirmation = await mail_to(
        mail, body["email"], f"CARE badges order {top_up.json()['reference']} received"
    )
    assert "top-up" in confirmation.get_body(("plain",)).get_content()
    async with platform.client("orders") as orders:
        mine = (await orders.get("/api/orders", headers=bearer(token))).json()
    assert [(o["reference"], o["top_up"]) for o in mine] == [
        (first["reference"], False),
        (top_up.json()["reference"], True),
    ]


async def test_a_cqc_order_through_the_api_is_confirmed_by_email(
    platform: Platform, mail: SmtpSink
) -> None:
    site = single_location_rows()[4]
    session = await sign_in(platform, site.email, site.ods_code)
    placed = await place_order(
        platform, session["access_token"], [(site.location_id, 6)], site.location_id
    )
    message = await mail_to(mail, site.email, f"CARE badges order {placed['reference']} received")
    assert "6 CARE badges" in message.get_body(("plain",)).get_content()


async def test_an_order_before_orders_has_heard_of_the_account_is_asked_to_wait(
    platform: Platform,
) -> None:
    newcomer = mint("provider", kind="non_cqc")
    answer = await place(platform, newcomer, staff_count=3)
    assert answer.status_code == 409
    assert answer.json()["type"].endswith("/account-not-ready")
    assert answer.headers["retry-after"] == "2"


async def test_a_correction_is_used_and_anonymising_removes_the_registration(
    platform: Platform, mail: SmtpSink
) -> None:
    body = registration(
        "casey@brook-support.example",
        organisation_name="Brook Support",
        contact_name="Casey Brookfield",
        address_line_1="7 Brook Row",
        postcode="LS6 1AA",
    )
    session = await register(platform, mail, body)
    token, account_id = session["access_token"], session["account_id"]
    corrected = {
        "organisation_name": "Brook Support CIC",
        "contact_name": "Casey Brookfield",
        "address_line_1": "9 Brook Row",
        "address_line_2": "",
        "city": "Leeds",
        "postcode": "LS6 1AB",
        "phone": "01632 960 321",
    }
    async with platform.client("identity") as identity:
        done = await identity.put("/api/account/details", json=corrected, headers=bearer(token))
    assert done.status_code == 200, done.text

    async def corrected_address() -> bool:
        async with platform.service("orders").db.transaction() as s:
            line = await s.scalar(
                text("SELECT address_line_1 FROM registered_accounts WHERE account_id = :id"),
                {"id": account_id},
            )
        return line == "9 Brook Row"

    await eventually(corrected_address)
    placed = await order_when_ready(platform, token, 2)
    event = await published(platform, placed["order_id"])
    assert event["delivery"]["address_line_1"] == "9 Brook Row"
    assert event["delivery"]["postcode"] == "LS6 1AB"

    async with platform.client("identity") as identity:
        gone = await identity.post(
            f"/api/accounts/{account_id}/anonymise",
            json={"reason": "asked by phone"},
            headers=bearer(mint("customer_service")),
        )
    assert gone.status_code == 204, gone.text

    async def registration_gone() -> bool:
        async with platform.service("orders").db.transaction() as s:
            left = await s.scalar(
                text("SELECT count(*) FROM registered_accounts WHERE account_id = :id"),
                {"id": account_id},
            )
        return left == 0

    await eventually(registration_gone)
    # A correction that arrives late is not stored again.
    await platform.publish(
        AccountDetailsCorrected(account_id=uuid.UUID(account_id), **corrected | {"city": "Late"})
    )
    await settled(platform)
    async with platform.service("orders").db.transaction() as s:
        rows = (
            await s.execute(
                text(
                    "SELECT row_to_json(t)::text FROM registered_accounts t "
                    "WHERE lower(t::text) LIKE ANY(:needles)"
                ),
                {"needles": ["%brook%", "%casey%", f"%{body['email']}%"]},
            )
        ).all()
    assert rows == []


async def test_a_restricted_account_cannot_order_to_its_own_address(
    platform: Platform, mail: SmtpSink
) -> None:
    session = await register(
        platform, mail, registration("pat@pat-pa.example", organisation_type="personal_assistant")
    )
    await platform.publish(
        AccountRestricted(account_id=uuid.UUID(session["account_id"]), ground="objection")
    )

    async def held() -> dict[str, Any] | None:
        answer = await place(platform, session["access_token"], staff_count=1)
        body: dict[str, Any] = answer.json()
        return body if answer.status_code == 403 else None

    assert (await eventually(held))["type"].endswith("/account-restricted")
