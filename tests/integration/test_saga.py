"""An order's whole life across the five services, on real RabbitMQ and PostgreSQL."""

import json

from sqlalchemy import text

from tests.support.journeys import order_status, place_order, sign_in, single_location_rows
from tests.support.keys import bearer, mint
from tests.support.platform import Platform, courier_headers, eventually


async def test_an_order_travels_from_sign_in_to_delivered_and_is_counted(
    platform: Platform,
) -> None:
    site = single_location_rows()[0]
    session = await sign_in(platform, f"  {site.email.upper()} ", site.ods_code.lower())
    token = session["access_token"]
    assert [loc["location_id"] for loc in session["locations"]] == [site.location_id]

    placed = await place_order(
        platform, token, [(site.location_id, 12)], site.location_id, correlation_id="saga-trace-1"
    )
    assert placed["status"] == "placed"
    order_id = placed["order_id"]

    dispatched = await eventually(lambda: _status_is(platform, token, order_id, "dispatched"))
    steps = [step["status"] for step in dispatched["history"]]
    assert steps[0] == "placed" and "verified" in steps and steps[-1] == "dispatched"

    handoffs = [json.loads(m.body) for m in await platform.drain("courier.courier.handoff")]
    mine = [h for h in handoffs if h["payload"]["postcode"] == site.postcode]
    assert len(mine) == 1
    # The id the user's request carried is on the handoff three services later.
    assert mine[0]["correlation_id"] == "saga-trace-1"
    handoff = mine[0]["payload"]
    assert set(handoff) == {
        "shipment_reference",
        "recipient_name",
        "address",
        "postcode",
        "parcels",
    }  # the courier gets what delivery needs, nothing more
    assert handoff["recipient_name"] == "Sam Carer"
    assert sum(p["badges"] for p in handoff["parcels"]) == 12

    body = json.dumps(
        {
            "shipment_reference": handoff["shipment_reference"],
            "status": "delivered",
            "occurred_at": "2026-11-23T12:00:00Z",
        }
    ).encode()
    async with platform.client("dispatch") as dispatch:
        response = await dispatch.post(
            "/api/courier/status", content=body, headers=courier_headers(body)
        )
    assert response.status_code in (200, 202, 204), response.text

    delivered = await eventually(lambda: _status_is(platform, token, order_id, "delivered"))
    assert delivered["history"][-1]["status"] == "delivered"

    analyst = bearer(mint("dhsc_analyst"))

    async def counted() -> dict[str, object] | None:
        async with platform.client("reporting") as reporting:
            figures = (await reporting.get("/api/mi/summary", headers=analyst)).json()
        # One order is below the suppression threshold: the figure exists but is hidden. It
        # reads 0 until reporting, which may trail by a moment, has counted the delivery.
        return figures if figures.get("orders_delivered", 0) != 0 else None

    figures = await eventually(counted)
    assert figures["orders_delivered"] == "suppressed"
    async with platform.service("reporting").db.transaction() as s:
        raw = dict(
            (
                await s.execute(
                    text("SELECT metric, sum(value) FROM daily_figures GROUP BY metric")
                )
            ).all()
        )
    assert raw["orders_placed"] == raw["orders_delivered"] == 1
    assert raw["badges_placed"] == 12


async def _status_is(platform: Platform, token: str, order_id: str, status: str) -> dict | None:
    order = await order_status(platform, token, order_id)
    return order if order["status"] == status else None
