"""The order page's latency at a steady 50 requests/s, on this machine.

Starts the platform as five processes (the run command's launcher), signs one CQC provider
in through the site's own pages, places an order through them, then requests that order's
page (session read, token check, the order and its timeline from the database, the GOV.UK
page rendered) at a fixed 50 requests/s, open loop (a slow answer does not slow the next
request), and prints p50/p90/p99. Writes the figures to bench/results/site-latency.json.

    .venv/bin/python bench/site_latency.py --rate 50 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.web.sessions import COOKIE  # noqa: E402
from tests.support.journeys import single_location_rows  # noqa: E402
from tests.support.launcher import Launched, launch  # noqa: E402

OFFSET = 450
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


class Visitor:
    """One browser's worth of state: the session cookie, sent by hand because it is Secure
    and this local run is plain HTTP."""

    def __init__(self, http: httpx.AsyncClient, base: str) -> None:
        self.http = http
        self.base = base
        self.cookie = ""

    async def get(self, path: str) -> httpx.Response:
        return self._keep(await self.http.get(self.base + path, headers=self._headers()))

    async def submit(self, path: str, data: dict[str, str]) -> httpx.Response:
        page = await self.get(path)
        token = _CSRF.search(page.text)
        assert token, f"no form on {path}"
        response = await self.http.post(
            self.base + path, data={**data, "csrf_token": token.group(1)}, headers=self._headers()
        )
        return self._keep(response)

    def _headers(self) -> dict[str, str]:
        return {"Cookie": f"{COOKIE}={self.cookie}"} if self.cookie else {}

    def _keep(self, response: httpx.Response) -> httpx.Response:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            if name == COOKIE:
                self.cookie = rest.split(";")[0]
        return response


async def place_order(visitor: Visitor) -> str:
    """Through the site's pages; returns the order page's path."""
    row = single_location_rows()[0]
    await visitor.submit("/sign-in", {"email": row.email, "password": row.ods_code})
    await visitor.submit("/order/locations", {})
    await visitor.submit("/order/staff", {f"staff-{row.location_id}": "12"})
    await visitor.submit("/order/contact", {"contact-name": "Bench Manager"})
    for _ in range(50):  # the locations reach orders by event, a moment after sign-in
        placed = await visitor.submit("/order/check", {})
        if placed.status_code == 303:
            return placed.headers["location"].replace("/order/confirmation/", "/orders/")
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the order was not placed: {placed.status_code}")


async def measure(visitor: Visitor, path: str, rate: float, seconds: float) -> dict[str, object]:
    latencies: list[float] = []
    failures = 0

    async def one() -> None:
        nonlocal failures
        started = time.perf_counter()
        response = await visitor.get(path)
        if response.status_code == 200:
            latencies.append(time.perf_counter() - started)
        else:
            failures += 1

    tasks = []
    begin = time.perf_counter()
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, begin + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - begin
    ms = [v * 1000 for v in latencies]
    return {
        "page": "GET /orders/{order_id} (the order page, signed in)",
        "target_rate_per_s": rate,
        "achieved_rate_per_s": round(len(tasks) / elapsed, 1),
        "requests": len(tasks),
        "failures": failures,
        "p50_ms": round(percentile(ms, 50), 1),
        "p90_ms": round(percentile(ms, 90), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "site-latency.json"
    )
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="care-bench-site-"))
    platform: Launched = await launch(
        state, OFFSET, "--initial-stock", "0", command=(sys.executable, "scripts/run_platform.py")
    )
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            visitor = Visitor(http, platform.url("orders", ""))
            path = await place_order(visitor)
            await measure(visitor, path, args.rate, 3)  # warm up
            figures = await measure(visitor, path, args.rate, args.seconds)
    finally:
        await platform.stop()
    figures["machine"] = {"cores": os.cpu_count()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
