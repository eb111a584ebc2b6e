"""Bad input to the orders API: a problem+json that names the field, and nothing stored."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.orders.store import awaiting
from tests.support.journeys import place_order, sign_in, single_location_rows
from tests.support.keys import bearer, mint
from tests.support.platform import Platform


@pytest.fixture(scope="module")
async def provider(platform: Platform) -> dict[str, Any]:
    site = single_location_rows()[5]
    session = await sign_in(platform, site.email, site.ods_code)
    return {"site": site, "token": session["access_token"]}


async def stored_orders(platform: Platform) -> int:
    async with platform.service("orders").db.transaction() as s:
        return int(await s.scalar(text("SELECT count(*) FROM orders")) or 0)


def body(location: str, staff: Any = 4, **extra: Any) -> dict[str, Any]:
    return {
        "lines": [{"location_id": location, "staff_count": staff}],
        "deliver_to_location_id": location,
        "contact_name": "Alex Manager",
        **extra,
    }


@pytest.mark.parametrize(
    ("staff", "field"),
    [
        (0, "lines.0.staff_count"),
        (-3, "lines.0.staff_count"),
        (2.5, "lines.0.staff_count"),
        ("12", "lines.0.staff_count"),
        (None, "lines.0.staff_count"),
    ],
)
async def test_a_quantity_that_is_not_a_positive_whole_number_is_refused(
    platform: Platform, provider: dict[str, Any], staff: Any, field: str
) -> None:
    before = await stored_orders(platform)
    async with platform.client("orders") as orders:
        response = await orders.post(
            "/api/orders",
            json=body(provider["site"].location_id, staff),
            headers=bearer(provider["token"]),
        )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == [field]
    assert problem["detail"].startswith(field)
    assert await stored_orders(platform) == before


async def test_an_unknown_field_is_named(platform: Platform, provider: dict[str, Any]) -> None:
    async with platform.client("orders") as orders:
        response = await orders.post(
            "/api/orders",
            json=body(provider["site"].location_id, discount="100%"),
            headers=bearer(provider["token"]),
        )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "discount", "message": "is not a field this API accepts: remove it"}
    ]


async def test_a_malformed_body_is_refused(platform: Platform, provider: dict[str, Any]) -> None:
    async with platform.client("orders") as orders:
        response = await orders.post(
            "/api/orders",
            content=b'{"lines": [',
            headers={**bearer(provider["token"]), "content-type": "application/json"},
        )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_location_the_token_does_not_authorise_is_refused(
    platform: Platform, provider: dict[str, Any]
) -> None:
    other = single_location_rows()[6]
    before = await stored_orders(platform)
    async with platform.client("orders") as orders:
        response = await orders.post(
            "/api/orders", json=body(other.location_id), headers=bearer(provider["token"])
        )
    assert response.status_code == 403
    problem = response.json()
    assert problem["errors"][0]["field"] == "lines"
    assert other.location_id in problem["detail"]
    assert await stored_orders(platform) == before


async def test_no_token_or_a_forged_one_is_refused(
    platform: Platform, provider: dict[str, Any]
) -> None:
    forged = provider["token"][:-4] + ("AAAA" if not provider["token"].endswith("AAAA") else "BBBB")
    async with platform.client("orders") as orders:
        missing = await orders.post("/api/orders", json=body(provider["site"].location_id))
        bad = await orders.post(
            "/api/orders", json=body(provider["site"].location_id), headers=bearer(forged)
        )
        staff = await orders.post(
            "/api/orders",
            json=body(provider["site"].location_id),
            headers=bearer(mint("operations")),
        )
    assert (missing.status_code, bad.status_code, staff.status_code) == (401, 401, 403)


async def test_a_second_order_for_the_same_location_is_explained_and_not_taken(
    platform: Platform, provider: dict[str, Any]
) -> None:
    site = provider["site"]
    await place_order(platform, provider["token"], [(site.location_id, 4)], site.location_id)
    before = await stored_orders(platform)
    async with platform.client("orders") as orders:
        response = await orders.post(
            "/api/orders", json=body(site.location_id), headers=bearer(provider["token"])
        )
    assert response.status_code == 409
    assert response.json()["type"].endswith("/location-already-ordered")
    assert await stored_orders(platform) == before


async def test_another_accounts_order_is_not_found(
    platform: Platform, provider: dict[str, Any]
) -> None:
    async with platform.client("orders") as orders:
        mine = (await orders.get("/api/orders", headers=bearer(provider["token"]))).json()
        stranger = mint("provider", kind="cqc")
        response = await orders.get(f"/api/orders/{mine[0]['order_id']}", headers=bearer(stranger))
    assert response.status_code == 404


async def test_an_order_that_loses_a_deadlock_is_taken_again_not_refused(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL rolls a deadlock's loser back whole (seen about once in 1,000 order POSTs
    under load, against a consumer's transaction): the order is placed again, once."""
    site = single_location_rows()[6]
    token = (await sign_in(platform, site.email, site.ods_code))["access_token"]
    real_lock = awaiting.lock_for_placing
    calls = 0

    async def deadlocks_once(session: Any, account_id: Any) -> None:
        nonlocal calls
        calls += 1
        await real_lock(session, account_id)
        if calls == 1:
            lost = asyncpg.exceptions.DeadlockDetectedError("deadlock detected")
            raise DBAPIError("SELECT pg_advisory_xact_lock_shared(...)", None, lost)

    monkeypatch.setattr(awaiting, "lock_for_placing", deadlocks_once)
    before = await stored_orders(platform)
    async with platform.client("orders") as orders:
        response = await orders.post(
            "/api/orders", json=body(site.location_id), headers=bearer(token)
        )

    assert response.status_code == 201, response.text
    assert calls == 2
    assert await stored_orders(platform) == before + 1
