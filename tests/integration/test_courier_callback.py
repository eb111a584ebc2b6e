"""The courier's status callback: signed, fresh, once; unknown shipments kept for investigation."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from services.dispatch.store import shipments
from tests.support.events import order_placed, verified
from tests.support.platform import Platform, courier_headers, eventually

pytestmark = pytest.mark.integration


async def shipment_of(platform: Platform) -> tuple[uuid.UUID, str]:
    event = order_placed(quantity=5)
    await platform.publish(event)
    await platform.publish(verified(event))

    async def reference() -> str | None:
        async with platform.service("dispatch").db.transaction() as s:
            shipment = await shipments.shipment_for_order(s, event.order_id)
        return shipment.reference if shipment else None

    return event.order_id, await eventually(reference)


def status_body(
    reference: str, status: str = "delivered", at: str = "2026-11-23T12:00:00Z"
) -> bytes:
    return json.dumps(
        {"shipment_reference": reference, "status": status, "occurred_at": at}
    ).encode()


async def post(platform: Platform, body: bytes, headers: dict[str, str]) -> Any:
    async with platform.client("dispatch") as dispatch:
        return await dispatch.post("/api/courier/status", content=body, headers=headers)


async def delivered_events(platform: Platform, order_id: uuid.UUID) -> int:
    async with platform.service("dispatch").db.transaction() as s:
        return int(
            await s.scalar(
                text(
                    "SELECT count(*) FROM outbox"
                    " WHERE event_type = 'OrderDelivered' AND body LIKE :o"
                ),
                {"o": f"%{order_id}%"},
            )
            or 0
        )


async def test_unsigned_wrongly_signed_and_stale_callbacks_are_refused(platform: Platform) -> None:
    order_id, reference = await shipment_of(platform)
    body = status_body(reference)
    unsigned = await post(platform, body, {"Content-Type": "application/json"})
    forged = await post(platform, body, courier_headers(body, secret="not-the-secret"))
    stale = await post(platform, body, courier_headers(body, at=int(time.time()) - 3600))
    tampered = await post(platform, status_body(reference, "returned"), courier_headers(body))
    assert [r.status_code for r in (unsigned, forged, stale, tampered)] == [401] * 4
    assert all(
        r.headers["content-type"] == "application/problem+json"
        for r in (unsigned, forged, stale, tampered)
    )
    assert await delivered_events(platform, order_id) == 0


async def test_a_replayed_callback_is_refused_and_delivery_is_announced_once(
    platform: Platform,
) -> None:
    order_id, reference = await shipment_of(platform)
    body = status_body(reference)
    headers = courier_headers(body)
    first = await post(platform, body, headers)
    replay = await post(platform, body, headers)
    assert first.status_code < 300, first.text
    assert replay.status_code == 409

    again = status_body(reference, at="2026-11-23T12:05:00Z")  # the courier says it twice
    second = await post(platform, again, courier_headers(again))
    assert second.status_code < 300
    assert await delivered_events(platform, order_id) == 1


async def test_a_callback_for_an_unknown_shipment_is_answered_and_kept(platform: Platform) -> None:
    body = status_body("SH-NOSUCH01", "returned")
    response = await post(platform, body, courier_headers(body))
    assert response.status_code == 404
    assert "SH-NOSUCH01" in response.json()["detail"]
    async with platform.service("dispatch").db.transaction() as s:
        kept = (
            await s.execute(
                text(
                    "SELECT known, status FROM courier_callbacks"
                    " WHERE shipment_reference = 'SH-NOSUCH01'"
                )
            )
        ).all()
    assert [tuple(row) for row in kept] == [(False, "returned")]
