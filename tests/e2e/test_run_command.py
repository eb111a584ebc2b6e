"""The README's run command: five processes, an order to delivered over HTTP, Ctrl-C stops all."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.journeys import single_location_rows
from tests.support.launcher import SERVICES, Launched, launch
from tests.support.platform import courier_headers, eventually

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Launched]:
    launched = await launch(tmp_path_factory.mktemp("run-state"), 300, "--initial-stock", "1000")
    try:
        yield launched
    finally:
        await launched.stop()


async def test_an_order_reaches_delivered_and_ctrl_c_stops_every_process(
    running: Launched,
) -> None:
    site = single_location_rows()[10]
    async with httpx.AsyncClient(timeout=10) as http:
        for name in SERVICES:
            ready = await http.get(running.url(name, "/readyz"))
            assert ready.status_code == 200, (name, ready.text)
        signed_in = await http.post(
            running.url("identity", "/api/sign-in"),
            json={"email": site.email, "password": site.ods_code},
        )
        token = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        order_body = {
            "lines": [{"location_id": site.location_id, "staff_count": 20}],
            "deliver_to_location_id": site.location_id,
            "contact_name": "Jo Lead",
        }

        async def place() -> dict[str, object] | None:
            r = await http.post(
                running.url("orders", "/api/orders"), json=order_body, headers=token
            )
            return r.json() if r.status_code == 201 else None

        order = await eventually(place)
        url = running.url("orders", f"/api/orders/{order['order_id']}")

        async def shipment() -> str | None:
            history = (await http.get(url, headers=token)).json()["history"]
            return next((h["detail"] for h in history if h["status"] == "dispatched"), None)

        reference = await eventually(shipment, timeout=30)
        secret = (running.state / "courier-hmac-secret").read_text().strip()
        body = json.dumps(
            {
                "shipment_reference": reference,
                "status": "delivered",
                "occurred_at": "2026-11-23T15:00:00Z",
            }
        ).encode()
        callback = await http.post(
            running.url("dispatch", "/api/courier/status"),
            content=body,
            headers=courier_headers(body, secret),
        )
        assert callback.status_code < 300, callback.text

        async def delivered() -> bool:
            return bool((await http.get(url, headers=token)).json()["status"] == "delivered")

        await eventually(delivered, timeout=30)

    assert await running.interrupt() == 0
    port = running.url("orders", "").rsplit(":", 1)[1]
    leftovers = subprocess.run(
        ["pgrep", "-f", f"--port {port}"], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout.strip() == ""
