"""Every kind of location gets a plausibility check (ADR 0062): an implausible order goes to a
person and stays referred; over the online ceiling the API says how to order anyway."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from services.verification.store.tables import orders as verification_orders
from tests.support.journeys import order_status, place_order, sign_in, single_location_rows
from tests.support.keys import bearer
from tests.support.platform import Platform, eventually, settled

pytestmark = pytest.mark.integration


def community_location() -> Any:
    """A community-based location of the sample register: no registered beds."""
    return next(r for r in single_location_rows()[20:] if r.beds is None)


async def test_five_thousand_badges_for_a_location_without_beds_go_to_a_person(
    platform: Platform,
) -> None:
    site = community_location()
    session = await sign_in(platform, site.email, site.ods_code)
    token = session["access_token"]
    placed = await place_order(platform, token, [(site.location_id, 5_000)], site.location_id)

    async def in_review() -> dict[str, Any] | None:
        order = await order_status(platform, token, placed["order_id"])
        return order if order["status"] == "in_review" else None

    assert await eventually(in_review)
    await settled(platform)
    async with platform.service("verification").db.transaction() as s:
        row = (
            await s.execute(
                select(verification_orders).where(
                    verification_orders.c.order_id == placed["order_id"]
                )
            )
        ).one()
    assert row.state == "referred"
    assert row.reason_codes == ["location_size"]
    assert "5,000" in row.reasons[0]
    assert (await order_status(platform, token, placed["order_id"]))["status"] == "in_review"


async def test_more_than_the_online_ceiling_is_refused_with_the_way_to_order_anyway(
    platform: Platform,
) -> None:
    site = single_location_rows()[21]
    session = await sign_in(platform, site.email, site.ods_code)
    body = {
        "lines": [{"location_id": site.location_id, "staff_count": 12_000}],
        "deliver_to_location_id": site.location_id,
        "contact_name": "Sam Carer",
    }
    async with platform.client("orders") as orders:
        response = await orders.post(
            "/api/orders", json=body, headers=bearer(session["access_token"])
        )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "lines.0.staff_count"
    assert "customer services" in error["message"]
    assert "0161 495 4879" in error["message"]
