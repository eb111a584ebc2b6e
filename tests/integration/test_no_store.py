"""No response holding personal data may be cached (issue 17, item 8): every GET route of
every service's OpenAPI document, for every role, answers ``Cache-Control: no-store``, and so
do the pages (the order pages, the subject-access page); the GOV.UK assets keep their year."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import pytest

from shared.http.auth import ROLES
from tests.support.keys import mint
from tests.support.platform import SERVICES, Platform

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def platform() -> AsyncIterator[Platform]:
    async with Platform() as p:
        await p.start_all()
        yield p


def filled(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


@pytest.mark.parametrize("service", SERVICES)
async def test_every_get_route_says_no_store_for_every_role(
    platform: Platform, service: str
) -> None:
    async with platform.client(service) as client:
        document = (await client.get("/openapi.json")).json()
        paths = [filled(p) for p, ops in document["paths"].items() if "get" in ops]
        cached = []
        for role in sorted(ROLES):
            token = mint(role, kind="staff" if role != "provider" else "cqc", locations=["1-X"])
            for path in paths:
                answer = await client.get(path, headers={"Authorization": f"Bearer {token}"})
                if answer.headers.get("cache-control") != "no-store":
                    cached.append((role, path, answer.status_code, answer.headers))
    assert paths
    assert not cached, cached


async def test_the_order_and_subject_access_pages_and_the_orders_api_say_no_store(
    platform: Platform,
) -> None:
    provider = mint("provider", kind="cqc", locations=["1-X"])
    async with platform.client("orders") as orders:
        mine = await orders.get("/api/orders", headers={"Authorization": f"Bearer {provider}"})
        pages = [await orders.get(p) for p in ("/your-orders", "/sign-in", "/order/locations")]
        asset = await orders.get("/assets/govuk-frontend.min.css")
    async with platform.client("identity") as identity:
        copy = await identity.get(
            f"/api/subject-access/{uuid.uuid4()}/page",
            headers={"Authorization": f"Bearer {provider}"},
        )
    assert mine.status_code == 200
    for answer in [mine, copy, *pages]:
        assert answer.headers["cache-control"] == "no-store", (answer.url, answer.headers)
    if asset.status_code == 200:  # the npm package is installed
        assert "max-age" in asset.headers["cache-control"]
