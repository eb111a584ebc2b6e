"""The customer-services back office's JSON API on the real broker and database.

The queue and its filters, an order's whole story, asking for more information, deciding
(once, by one reviewer, surviving a crash), finding an order for a caller, correcting an
address (used by dispatch, or refused and brought back), returned parcels, disabling and
anonymising through identity, and an audit trail nobody can rewrite.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from services.verification.store.tables import audit_personal, audit_trail
from shared.events import (
    AccountKind,
    AccountRegistered,
    OrderCancelled,
    OrderPlaced,
    ParcelReturned,
)
from shared.runtime import Service
from tests.support.events import order_placed
from tests.support.journeys import sign_in, single_location_rows
from tests.support.keys import bearer, mint, staff
from tests.support.platform import Platform, eventually
from tests.support.verification import authorise, cqc_order, location

pytestmark = pytest.mark.integration
REVIEWER = uuid.uuid4()


async def api(
    platform: Platform,
    method: str,
    path: str,
    token: str | None = None,
    instance: int = 0,
    **kwargs: Any,
) -> httpx.Response:
    headers = bearer(token) if token else staff("customer_service", REVIEWER)
    async with platform.client("verification", instance) as client:
        return await client.request(method, path, headers=headers, **kwargs)


async def detail(platform: Platform, order_id: uuid.UUID) -> dict[str, Any]:
    answer = await api(platform, "GET", f"/api/orders/{order_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


async def in_state(platform: Platform, order_id: uuid.UUID, state: str) -> dict[str, Any] | None:
    answer = await api(platform, "GET", f"/api/orders/{order_id}")
    if answer.status_code != 200 or answer.json()["state"] != state:
        return None
    return answer.json()  # type: ignore[no-any-return]


async def placed(platform: Platform, event: OrderPlaced, state: str = "referred") -> dict[str, Any]:
    await platform.publish(event)
    return await eventually(lambda: in_state(platform, event.order_id, state))


async def referred(platform: Platform, quantity: int = 30, **update: Any) -> dict[str, Any]:
    event = order_placed(quantity=quantity, kind=AccountKind.NON_CQC)
    return await placed(platform, event.model_copy(update=update))


async def outbox_count(platform: Platform, order_id: uuid.UUID, event_type: str) -> int:
    async with platform.service("verification").db.transaction() as s:
        return int(
            await s.scalar(
                text(
                    "SELECT count(*) FROM outbox WHERE event_type = :t "
                    "AND body::jsonb -> 'payload' ->> 'order_id' = :o"
                ),
                {"t": event_type, "o": str(order_id)},
            )
            or 0
        )


async def test_the_queue_is_oldest_first_with_filters_and_ages(platform: Platform) -> None:
    small = await referred(platform, quantity=25)
    large = await referred(platform, quantity=30)
    home = location(beds=4)
    bed = await placed(platform, cqc_order(await authorise(platform, home), (home, 40)))

    async def ids(**params: str) -> list[str]:
        answer = await api(platform, "GET", "/api/reviews", params=params)
        assert answer.status_code == 200, answer.text
        return [item["order_id"] for item in answer.json()]

    everything = await ids()
    mine = [o["order_id"] for o in (small, large, bed)]
    assert [i for i in everything if i in mine] == mine
    assert set(mine) & set(await ids(reason="address_and_phone")) == {large["order_id"]}
    assert set(mine) & set(await ids(reason="bed_count")) == {bed["order_id"]}
    assert set(mine) & set(await ids(kind="cqc")) == {bed["order_id"]}
    assert set(mine) & set(await ids(size="up-to-25")) == {small["order_id"]}
    assert set(mine) & set(await ids(size="26-to-100")) == {large["order_id"], bed["order_id"]}
    queue = (await api(platform, "GET", "/api/reviews")).json()
    assert all(item["age_seconds"] >= 0 and item["reasons"] for item in queue)
    bad = await api(platform, "GET", "/api/reviews", params={"size": "huge"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "size"


async def test_every_route_needs_the_customer_service_role(platform: Platform) -> None:
    order = await referred(platform)
    provider = mint("provider", kind="cqc")
    some = uuid.uuid4()
    routes = [
        ("GET", "/api/reviews", None),
        ("GET", f"/api/orders/{order['order_id']}", None),
        ("GET", "/api/orders/search?q=LS1+4AP", None),
        (
            "POST",
            f"/api/reviews/{order['order_id']}/decision",
            {"decision": "approve", "version": 1},
        ),
        ("POST", f"/api/reviews/{order['order_id']}/notes", {"note": "x", "version": 1}),
        ("PUT", f"/api/orders/{order['order_id']}/delivery-address", {}),
        ("GET", "/api/follow-ups", None),
        ("POST", "/api/follow-ups/1/resolve", None),
        ("POST", f"/api/accounts/{some}/disable", {"reason": "asked"}),
    ]
    for method, path, body in routes:
        refused = await api(platform, method, path, token=provider, json=body)
        assert refused.status_code == 403, (path, refused.text)
        async with platform.client("verification") as client:
            anonymous = await client.request(method, path, json=body)
        assert anonymous.status_code == 401, path
    assert (await detail(platform, order["order_id"]))["state"] == "referred"


async def test_an_orders_page_shows_who_what_checks_register_and_other_orders(
    platform: Platform,
) -> None:
    home = location(beds=4, name="Birch House")
    account = await authorise(platform, home)
    await platform.publish(
        AccountRegistered(
            account_id=account,
            kind=AccountKind.CQC,
            email="manager@birch.example",
            organisation_name="Birch Care",
            postcode=home.postcode,
        )
    )
    first = await placed(platform, cqc_order(account, (home, 4)), state="verified")
    second = await placed(platform, cqc_order(account, (home, 40)))
    order = await detail(platform, second["order_id"])
    assert order["account"]["email"] == "manager@birch.example"
    assert order["register_entries"][0]["location_id"] == home.location_id
    assert order["register_entries"][0]["care_home_beds"] == 4
    assert [o["order_id"] for o in order["other_orders"]] == [first["order_id"]]
    failed = {c["check"] for c in order["checks"] if not c["passed"]}
    assert failed == {"bed_count", "earlier_order"}
    assert order["audit"][0]["actor"] == "automatic"
    assert order["audit"][0]["action"] == "referred"


async def test_asking_for_more_information_keeps_the_order_in_the_queue(
    platform: Platform,
) -> None:
    order = await referred(platform)
    note = "Please send a letter from the local authority confirming the service."
    asked = await api(
        platform,
        "POST",
        f"/api/reviews/{order['order_id']}/notes",
        json={"note": note, "version": order["version"]},
    )
    empty = await api(
        platform,
        "POST",
        f"/api/reviews/{order['order_id']}/notes",
        json={"note": " ", "version": 2},
    )
    assert asked.status_code == 204 and empty.status_code == 422
    now = await detail(platform, order["order_id"])
    assert now["state"] == "referred" and now["version"] == order["version"] + 1
    assert now["notes"][0]["note"] == note and now["notes"][0]["author"] == str(REVIEWER)
    assert now["audit"][-1]["action"] == "more_information_requested"
    queue = (await api(platform, "GET", "/api/reviews")).json()
    assert order["order_id"] in [item["order_id"] for item in queue]


async def test_decided_or_cancelled_orders_cannot_be_decided(platform: Platform) -> None:
    approved = await referred(platform)
    cancelled = await referred(platform)
    await platform.publish(OrderCancelled(order_id=cancelled["order_id"]))
    await eventually(lambda: in_state(platform, cancelled["order_id"], "cancelled"))
    path = f"/api/reviews/{approved['order_id']}/decision"
    body = {"decision": "approve", "version": approved["version"]}
    assert (await api(platform, "POST", path, json=body)).status_code == 204
    again = await api(
        platform,
        "POST",
        path,
        json={"decision": "reject", "reason": "x", "version": approved["version"] + 1},
    )
    assert again.status_code == 409
    assert "already approved by " + str(REVIEWER) in again.json()["detail"]
    late = await api(
        platform,
        "POST",
        f"/api/reviews/{cancelled['order_id']}/decision",
        json={"decision": "approve", "version": cancelled["version"] + 1},
    )
    assert late.status_code == 409 and "cancelled" in late.json()["detail"]
    assert await outbox_count(platform, approved["order_id"], "OrderVerified") == 1
    assert await outbox_count(platform, cancelled["order_id"], "OrderVerified") == 0


async def test_two_reviewers_on_two_instances_cannot_both_decide(platform: Platform) -> None:
    await platform.start("verification")
    try:
        for _ in range(3):
            order = await referred(platform)
            path = f"/api/reviews/{order['order_id']}/decision"
            answers = await asyncio.gather(
                api(
                    platform,
                    "POST",
                    path,
                    token=mint("customer_service"),
                    json={"decision": "approve", "version": order["version"]},
                ),
                api(
                    platform,
                    "POST",
                    path,
                    token=mint("customer_service"),
                    instance=1,
                    json={"decision": "reject", "reason": "No.", "version": order["version"]},
                ),
            )
            assert sorted(a.status_code for a in answers) == [204, 409]
            verified = await outbox_count(platform, order["order_id"], "OrderVerified")
            rejected = await outbox_count(platform, order["order_id"], "OrderRejected")
            assert verified + rejected == 1
    finally:
        await platform.service("verification", 1).stop()
        platform.apps["verification"].pop()


async def test_a_crash_mid_decision_loses_nothing_and_doubles_nothing(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    order = await referred(platform)
    crashing = await platform.start("verification")
    try:

        async def die(*args: object, **kwargs: object) -> None:
            raise ConnectionError("process killed between the state change and the event")

        monkeypatch.setattr(crashing, "emit", die)
        path = f"/api/reviews/{order['order_id']}/decision"
        body = {"decision": "approve", "version": order["version"]}
        transport = httpx.ASGITransport(
            app=platform.apps["verification"][1], raise_app_exceptions=False
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://v.test") as client:
            crashed = await client.post(
                path, json=body, headers=staff("customer_service", REVIEWER)
            )
        assert crashed.status_code == 503  # a passing fault: "try again", nothing kept
    finally:
        await crashing.stop()
        platform.apps["verification"].pop()
    after_crash = await detail(platform, order["order_id"])
    assert after_crash["state"] == "referred" and after_crash["version"] == order["version"]
    assert [a["action"] for a in after_crash["audit"]] == ["referred"]

    assert (await api(platform, "POST", path, json=body)).status_code == 204
    assert (await api(platform, "POST", path, json=body)).status_code == 409
    assert await outbox_count(platform, order["order_id"], "OrderVerified") == 1
    done = await detail(platform, order["order_id"])
    assert [a["action"] for a in done["audit"]] == ["referred", "verified"]


async def test_find_an_order_by_reference_email_or_postcode(platform: Platform) -> None:
    event = order_placed(quantity=30, kind=AccountKind.NON_CQC)
    event = event.model_copy(
        update={"delivery": event.delivery.model_copy(update={"postcode": "BD1 1HY"})}
    )
    await platform.publish(
        AccountRegistered(
            account_id=event.account_id, kind=AccountKind.NON_CQC, email="Caller@Kind.example"
        )
    )
    order = await placed(platform, event)

    async def found(q: str) -> list[str]:
        answer = await api(platform, "GET", "/api/orders/search", params={"q": q})
        assert answer.status_code == 200, answer.text
        return [o["order_id"] for o in answer.json()]

    for q in (order["reference"], order["reference"].lower(), "caller@kind.example", "bd11hy"):
        assert order["order_id"] in await found(q), q
    nonsense = await api(platform, "GET", "/api/orders/search", params={"q": "hello"})
    assert nonsense.status_code == 422 and nonsense.json()["errors"][0]["field"] == "q"
    assert "reference" in nonsense.json()["detail"]


NEW_ADDRESS = {
    "recipient_name": "Ali Manager",
    "organisation_name": "Kind Care",
    "address_line_1": "2 New Street",
    "city": "Leeds",
    "postcode": "LS2 7AA",
}


async def dispatch_delivery(platform: Platform, order_id: uuid.UUID) -> dict[str, Any] | None:
    async with platform.service("dispatch").db.transaction() as s:
        delivery = await s.scalar(
            text("SELECT delivery FROM dispatch_orders WHERE order_id = :o"), {"o": order_id}
        )
    return delivery  # type: ignore[no-any-return]


async def test_correcting_an_address_reaches_dispatch_and_is_audited(
    platform: Platform,
) -> None:
    order = await referred(platform)
    path = f"/api/orders/{order['order_id']}/delivery-address"
    bad = await api(
        platform, "PUT", path, json={**NEW_ADDRESS, "postcode": "nonsense", "version": 2}
    )
    wales = await api(
        platform, "PUT", path, json={**NEW_ADDRESS, "postcode": "CF10 1AA", "version": 2}
    )
    stale = await api(platform, "PUT", path, json={**NEW_ADDRESS, "version": 1})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "postcode"
    assert wales.status_code == 422 and "outside England" in wales.json()["detail"]
    assert stale.status_code == 409

    done = await api(platform, "PUT", path, json={**NEW_ADDRESS, "version": order["version"]})
    assert done.status_code == 204, done.text

    async def moved() -> bool:
        delivery = await dispatch_delivery(platform, order["order_id"])
        return bool(delivery and delivery["postcode"] == "LS2 7AA")

    assert await eventually(moved)
    now = await detail(platform, order["order_id"])
    assert now["delivery"]["address_line_1"] == "2 New Street"
    entry = now["audit"][-1]
    assert entry["action"] == "delivery_address_changed" and entry["actor"] == str(REVIEWER)
    assert entry["personal_before"]["address_line_1"] == "1 Test Street"
    assert entry["personal_after"]["address_line_1"] == "2 New Street"
    assert "postcode" in entry["after"]["fields_changed"]

    rejected = await referred(platform)
    await api(
        platform,
        "POST",
        f"/api/reviews/{rejected['order_id']}/decision",
        json={"decision": "reject", "reason": "Not adult social care.", "version": 2},
    )
    closed = await api(
        platform,
        "PUT",
        f"/api/orders/{rejected['order_id']}/delivery-address",
        json={**NEW_ADDRESS, "version": 3},
    )
    assert closed.status_code == 409 and "rejected" in closed.json()["detail"]


async def follow_up_for(platform: Platform, order_id: uuid.UUID) -> dict[str, Any] | None:
    items = (await api(platform, "GET", "/api/follow-ups")).json()
    return next((i for i in items if i["order_id"] == str(order_id)), None)


async def shipped(platform: Platform, order_id: uuid.UUID) -> bool:
    async with platform.service("dispatch").db.transaction() as s:
        return bool(
            await s.scalar(text("SELECT 1 FROM shipments WHERE order_id = :o"), {"o": order_id})
        )


async def test_an_address_change_after_handover_comes_back_to_the_reviewer(
    platform: Platform,
) -> None:
    home = location()
    event = cqc_order(await authorise(platform, home), (home, 5))
    order = await placed(platform, event, state="verified")
    assert await eventually(lambda: shipped(platform, event.order_id))
    changed = await api(
        platform,
        "PUT",
        f"/api/orders/{event.order_id}/delivery-address",
        json={**NEW_ADDRESS, "version": order["version"]},
    )
    assert changed.status_code == 204
    item = await eventually(lambda: follow_up_for(platform, event.order_id))
    assert item["kind"] == "address_change_refused" and item["raised_for"] == str(REVIEWER)
    assert "already handed to the courier" in item["detail"]


async def test_a_returned_parcel_is_a_follow_up_until_someone_deals_with_it(
    platform: Platform,
) -> None:
    order = await referred(platform)
    await platform.publish(
        ParcelReturned(
            order_id=order["order_id"],
            shipment_reference="SH-RETURN1",
            returned_at=datetime.now(UTC),
            parcel_count=1,
            quantity=30,
        )
    )
    item = await eventually(lambda: follow_up_for(platform, order["order_id"]))
    assert item["kind"] == "parcel_returned" and "SH-RETURN1" in item["detail"]
    assert item["reference"] == order["reference"]
    path = f"/api/follow-ups/{item['id']}/resolve"
    assert (await api(platform, "POST", path)).status_code == 204
    assert (await api(platform, "POST", path)).status_code == 409
    assert await follow_up_for(platform, order["order_id"]) is None
    trail = (await detail(platform, order["order_id"]))["audit"]
    assert trail[-1]["action"] == "follow_up_resolved"


def reach_identity(platform: Platform) -> None:
    link = platform.apps["verification"][0].state.identity
    link.transport = httpx.ASGITransport(app=platform.apps["identity"][0])


async def test_disable_and_anonymise_an_account_through_identity(platform: Platform) -> None:
    reach_identity(platform)
    site = single_location_rows()[3]
    signed_in = await sign_in(platform, site.email, site.ods_code)
    async with platform.client("identity") as identity:
        me = (await identity.get("/api/account", headers=bearer(signed_in["access_token"]))).json()
    account_id = me["account_id"]
    event = order_placed(quantity=30, kind=AccountKind.NON_CQC)
    order = await placed(platform, event.model_copy(update={"account_id": uuid.UUID(account_id)}))
    await api(
        platform,
        "PUT",
        f"/api/orders/{order['order_id']}/delivery-address",
        json={**NEW_ADDRESS, "version": order["version"]},
    )

    nobody = await api(
        platform, "POST", f"/api/accounts/{uuid.uuid4()}/disable", json={"reason": "x"}
    )
    no_reason = await api(platform, "POST", f"/api/accounts/{account_id}/disable", json={})
    assert nobody.status_code == 404 and no_reason.status_code == 422

    disabled = await api(
        platform, "POST", f"/api/accounts/{account_id}/disable", json={"reason": "asked by phone"}
    )
    assert disabled.status_code == 204, disabled.text
    async with platform.client("identity") as identity:
        refused = await identity.post(
            "/api/sign-in", json={"email": site.email, "password": site.ods_code}
        )
    assert refused.status_code != 200

    gone = await api(
        platform, "POST", f"/api/accounts/{account_id}/anonymise", json={"reason": "asked"}
    )
    assert gone.status_code == 204, gone.text

    async def scrubbed() -> bool:
        order_now = await detail(platform, order["order_id"])
        return order_now["delivery"] == {"anonymised": True} and all(
            a["personal_before"] is None for a in order_now["audit"]
        )

    assert await eventually(scrubbed)
    async with platform.service("verification").db.transaction() as s:
        actions = (
            await s.execute(
                select(audit_trail.c.action, audit_trail.c.actor).where(
                    audit_trail.c.account_id == uuid.UUID(account_id)
                )
            )
        ).all()
        personal = await s.scalar(
            select(audit_personal.c.audit_id).where(
                audit_personal.c.account_id == uuid.UUID(account_id)
            )
        )
    assert ("account_disable", str(REVIEWER)) in actions
    assert ("account_anonymise", str(REVIEWER)) in actions
    assert ("delivery_address_changed", str(REVIEWER)) in actions
    assert personal is None


async def test_the_audit_trail_cannot_be_edited(platform: Platform) -> None:
    order = await referred(platform)
    service: Service = platform.service("verification")
    for statement in (
        "UPDATE audit_trail SET actor = 'someone else' WHERE order_id = :o",
        "DELETE FROM audit_trail WHERE order_id = :o",
        "TRUNCATE audit_trail CASCADE",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with service.db.transaction() as s:
                await s.execute(text(statement), {"o": order["order_id"]})
    trail = (await detail(platform, order["order_id"]))["audit"]
    assert [(a["actor"], a["action"]) for a in trail] == [("automatic", "referred")]
