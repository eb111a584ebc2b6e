"""Steps a provider takes, through the services' real HTTP APIs."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import Any

from tests.support.keys import bearer
from tests.support.platform import REGISTER_SAMPLE, Platform


@dataclass(frozen=True)
class RegisterRow:
    location_id: str
    ods_code: str
    email: str
    postcode: str
    beds: int | None
    provider_id: str = ""


def register_rows() -> list[RegisterRow]:
    """Active adult social care locations of the sample register that sign in by ODS code."""
    with REGISTER_SAMPLE.open(newline="", encoding="utf-8-sig") as f:
        rows = []
        for r in csv.DictReader(f):
            if r["Dormant (Y/N)"] == "Y" or not r["Location ODS Code"]:
                continue
            beds = r["Care homes beds"]
            rows.append(
                RegisterRow(
                    r["Location ID"],
                    r["Location ODS Code"],
                    r["Location Email"],
                    r["Location Postal Code"],
                    int(beds) if beds else None,
                    r["Provider ID"],
                )
            )
    return rows


def single_location_rows() -> list[RegisterRow]:
    """Locations whose email covers only that one location, one per provider.

    One per provider because verification refers a provider's second order through another
    account (one order per provider): orders from these rows are each a new organisation's.
    """
    rows = register_rows()
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.email.lower()] = counts.get(r.email.lower(), 0) + 1
    providers: set[str] = set()
    chosen = []
    for r in rows:
        if counts[r.email.lower()] == 1 and r.provider_id not in providers:
            providers.add(r.provider_id)
            chosen.append(r)
    return chosen


async def sign_in(platform: Platform, email: str, password: str) -> dict[str, Any]:
    async with platform.client("identity") as identity:
        response = await identity.post("/api/sign-in", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def place_order(
    platform: Platform,
    token: str,
    lines: list[tuple[str, int]],
    deliver_to: str,
    contact: str = "Sam Carer",
    instance: int = 0,
    correlation_id: str | None = None,
) -> dict[str, Any]:
    """Place an order (at once: orders trusts the token's locations, ADR 0061)."""
    body = {
        "lines": [{"location_id": loc, "staff_count": n} for loc, n in lines],
        "deliver_to_location_id": deliver_to,
        "contact_name": contact,
    }

    async with platform.client("orders", instance) as orders:
        headers = bearer(token) | ({"X-Correlation-ID": correlation_id} if correlation_id else {})
        response = await orders.post("/api/orders", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def order_status(platform: Platform, token: str, order_id: str) -> dict[str, Any]:
    async with platform.client("orders") as orders:
        response = await orders.get(f"/api/orders/{order_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]
