"""The README's run command: five processes, an order to delivered over HTTP, Ctrl-C stops all."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support import infra
from tests.support.journeys import single_location_rows
from tests.support.platform import ROOT, SERVICES, courier_headers, eventually

pytestmark = pytest.mark.e2e
OFFSET = 300


def port(name: str) -> int:
    return {
        "identity": 8001,
        "orders": 8002,
        "verification": 8003,
        "dispatch": 8004,
        "reporting": 8005,
    }[name] + OFFSET


@pytest.fixture(scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, object]]:
    suffix = f"_e2e_{infra.unique_suffix()}"
    vhost = f"care-e2e-{suffix[5:]}"
    amqp = await infra.create_vhost(vhost)
    state: Path = tmp_path_factory.mktemp("run-state")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARE_")}
    proc = subprocess.Popen(
        [
            "bash",
            "scripts/run.sh",
            "--state",
            str(state),
            "--port-offset",
            str(OFFSET),
            "--db-suffix",
            suffix,
            "--amqp-url",
            amqp,
            "--initial-stock",
            "1000",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    deadline = time.monotonic() + 180
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = await asyncio.to_thread(proc.stdout.readline)
        output.append(line)
        if "platform is running" in line or (not line and proc.poll() is not None):
            break
    assert any("platform is running" in line for line in output), "".join(output)
    try:
        yield {"proc": proc, "state": state, "output": output}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        await infra.delete_vhost(vhost)
        await infra.drop_databases([f"care_{n}{suffix}" for n in SERVICES])


async def test_an_order_reaches_delivered_and_ctrl_c_stops_every_process(
    running: dict[str, object],
) -> None:
    proc = running["proc"]
    assert isinstance(proc, subprocess.Popen)
    state = running["state"]
    assert isinstance(state, Path)
    site = single_location_rows()[10]
    async with httpx.AsyncClient(timeout=10) as http:
        for name in SERVICES:
            ready = await http.get(f"http://127.0.0.1:{port(name)}/readyz")
            assert ready.status_code == 200, (name, ready.text)
        signed_in = await http.post(
            f"http://127.0.0.1:{port('identity')}/api/sign-in",
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
                f"http://127.0.0.1:{port('orders')}/api/orders", json=order_body, headers=token
            )
            return r.json() if r.status_code == 201 else None

        order = await eventually(place)
        url = f"http://127.0.0.1:{port('orders')}/api/orders/{order['order_id']}"

        async def has_shipment() -> str | None:
            history = (await http.get(url, headers=token)).json()["history"]
            return next((h["detail"] for h in history if h["status"] == "dispatched"), None)

        shipment = await eventually(has_shipment, timeout=30)
        secret = (state / "courier-hmac-secret").read_text().strip()
        body = json.dumps(
            {
                "shipment_reference": shipment,
                "status": "delivered",
                "occurred_at": "2026-11-23T15:00:00Z",
            }
        ).encode()
        callback = await http.post(
            f"http://127.0.0.1:{port('dispatch')}/api/courier/status",
            content=body,
            headers=courier_headers(body, secret),
        )
        assert callback.status_code < 300, callback.text

        async def delivered() -> bool:
            return bool((await http.get(url, headers=token)).json()["status"] == "delivered")

        await eventually(delivered, timeout=30)

    os.killpg(proc.pid, signal.SIGINT)
    assert await asyncio.to_thread(proc.wait, 60) == 0
    leftovers = subprocess.run(
        ["pgrep", "-f", f"--port {port('orders')}"], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout.strip() == ""
