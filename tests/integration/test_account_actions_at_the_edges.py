"""Account actions at their edges (issue 17, item 9): a disable reason longer than identity
keeps answered 502 from the back office, because the two services' limits disagreed; lifting a
restriction from an account that does not exist answered 204."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.support.journeys import sign_in, single_location_rows
from tests.support.keys import bearer, staff
from tests.support.platform import Platform

pytestmark = pytest.mark.integration


def reach_identity(platform: Platform) -> None:
    link = platform.apps["verification"][0].state.identity
    link.transport = httpx.ASGITransport(app=platform.apps["identity"][0])


async def reason_limit(platform: Platform, name: str, path: str) -> int:
    async with platform.client(name) as client:
        document = (await client.get("/openapi.json")).json()
    body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    schemas = document["components"]["schemas"]
    reason = schemas[body["schema"]["$ref"].rsplit("/", 1)[1]]["properties"]["reason"]
    return int(reason["maxLength"])


async def test_the_back_office_and_identity_agree_on_the_reasons_length(
    platform: Platform,
) -> None:
    back_office = await reason_limit(
        platform, "verification", "/api/accounts/{account_id}/{action}"
    )
    identity = await reason_limit(platform, "identity", "/api/accounts/{account_id}/disable")
    assert back_office == identity == 200


async def test_a_reason_over_the_limit_is_a_422_naming_it_and_changes_nothing(
    platform: Platform,
) -> None:
    reach_identity(platform)
    site = single_location_rows()[5]
    signed_in = await sign_in(platform, site.email, site.ods_code)
    async with platform.client("identity") as identity:
        me = await identity.get("/api/account", headers=bearer(signed_in["access_token"]))
    path = f"/api/accounts/{me.json()['account_id']}/disable"
    async with platform.client("verification") as back_office:
        too_long = await back_office.post(
            path, json={"reason": "r" * 201}, headers=staff("customer_service")
        )
        assert too_long.status_code == 422, too_long.text
        assert too_long.headers["content-type"].startswith("application/problem+json")
        assert too_long.json()["errors"][0]["field"] == "reason"
        assert "200 characters or fewer" in too_long.json()["detail"]
        async with platform.client("identity") as identity:  # nothing was changed
            still = await identity.post(
                "/api/sign-in", json={"email": site.email, "password": site.ods_code}
            )
        assert still.status_code == 200, still.text
        at_limit = await back_office.post(
            path, json={"reason": "r" * 200}, headers=staff("customer_service")
        )
        assert at_limit.status_code == 204, at_limit.text


async def test_lifting_a_restriction_from_an_unknown_account_is_a_404(platform: Platform) -> None:
    async with platform.client("identity") as identity:
        nobody = await identity.delete(
            f"/api/accounts/{uuid.uuid4()}/restriction", headers=staff("customer_service")
        )
    assert nobody.status_code == 404, nobody.text
    assert nobody.headers["content-type"].startswith("application/problem+json")
    assert nobody.json()["title"] == "Account not found"
