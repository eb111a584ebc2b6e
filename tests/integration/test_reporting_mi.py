"""Reporting on the real bus: figures that agree with the other services, a rebuild that gives
the same figures, the API, CSV and page, and a store and metrics with no personal data in them.

One set of orders is driven once for the module: CQC providers sign in and order over HTTP,
non-CQC organisations' orders arrive as events, a reviewer approves one and rejects one, the
courier delivers two, and one event is delivered twice.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from services.reporting.store.rebuild import COUNTERS
from services.reporting.usecases.rebuilding import rebuild
from shared.events import (
    AccountKind,
    AccountRegistered,
    AccountRegisteredForReporting,
    Delivery,
    OrderLine,
    OrderPlaced,
    OrderPlacedForReporting,
    wrap,
)
from shared.events.reporting import NON_CQC_PROVIDER
from tests.support.journeys import place_order, sign_in, single_location_rows
from tests.support.keys import bearer, mint, staff
from tests.support.platform import (
    REGISTER_SAMPLE,
    SERVICES,
    Platform,
    courier_headers,
    eventually,
    settled,
)

pytestmark = pytest.mark.integration

REVIEWER_ID = uuid.uuid4()
CQC_ORDERS = 6
REJECTION = "Rang Morwenna Testington on 07700 900417: not a care provider"


@dataclass
class Driven:
    """What the module did, and every piece of personal data it put into the platform."""

    personal: set[str] = field(default_factory=set)
    placed: int = 0
    badges: int = 0


async def _placed_logged(platform: Platform) -> int:
    """Placed orders in reporting's log (a quick referral must not be filed under "Not known"
    because it arrived first)."""
    async with platform.service("reporting").db.transaction() as session:
        placed = await session.scalar(
            text("SELECT count(*) FROM event_log WHERE event_type = 'OrderPlaced'")
        )
    return int(placed or 0)


async def _more_than(count: Any, before: int) -> bool:
    return bool(await count > before)


def _non_cqc(n: int) -> tuple[AccountRegistered, OrderPlaced]:
    account = uuid.uuid4()
    registered = AccountRegistered(
        account_id=account,
        kind=AccountKind.NON_CQC,
        email=f"morwenna.testington{n}@example.org",
        organisation_name=f"Testington Home Support {n}",
        postcode=f"LS{n} 4QX",
        phone=f"07700 90041{n}",
    )
    order_id = uuid.uuid4()
    placed = OrderPlaced(
        order_id=order_id,
        reference=f"CB-N{order_id.hex[:7].upper()}",
        account_id=account,
        account_kind=AccountKind.NON_CQC,
        placed_at=datetime.now(UTC),
        placement_seq=9_000_000 + n,
        lines=[OrderLine(location_id=None, staff_count=10 + n)],
        quantity=10 + n,
        delivery=Delivery(
            recipient_name=f"Morwenna Testington{n}",
            organisation_name=f"Testington Home Support {n}",
            address_line_1=f"{n} Quernstone Close",
            city="Leeds",
            postcode=f"LS{n} 4QX",
        ),
    )
    return registered, placed


def _register_personal_data(rows: list[Any]) -> set[str]:
    """Email, phone, street address and postcode of the sample locations the test ordered for."""
    wanted = {r.location_id for r in rows}
    found: set[str] = set()
    with REGISTER_SAMPLE.open(newline="", encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            if row["Location ID"] in wanted:
                found |= {
                    row["Location Email"],
                    row["Location Telephone Number"],
                    row["Location Street Address"],
                    row["Location Postal Code"],
                    row["Location Name"],
                    row["Registered manager"],
                }
    return {v for v in found if v}


async def _queue(platform: Platform) -> list[dict[str, Any]]:
    async with platform.client("verification") as verification:
        response = await verification.get(
            "/api/reviews", headers=staff("customer_service", REVIEWER_ID)
        )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module", autouse=True)
def exact_figures() -> Iterator[None]:
    """These tests check the figures against what the other services did, order by order, so
    they run reporting without rounding (ADR 0028; the rounding and what it protects are
    tested in tests/unit/reporting/test_suppression_attack.py). Small counts stay hidden."""
    saved = os.environ.get("CARE_REPORTING_ROUNDING_BASE")
    os.environ["CARE_REPORTING_ROUNDING_BASE"] = "1"
    yield
    if saved is None:
        os.environ.pop("CARE_REPORTING_ROUNDING_BASE", None)
    else:
        os.environ["CARE_REPORTING_ROUNDING_BASE"] = saved


@pytest.fixture(scope="module")
async def driven(platform: Platform) -> Driven:
    done = Driven()
    sites = single_location_rows()[20 : 20 + CQC_ORDERS]
    done.personal |= _register_personal_data(sites)
    for i, site in enumerate(sites):
        session = await sign_in(platform, site.email, site.ods_code)
        contact = f"Ottoline Quarrington{i}"
        done.personal.add(contact)
        await place_order(
            platform,
            session["access_token"],
            [(site.location_id, 8 + i)],
            site.location_id,
            contact=contact,
        )
        done.placed += 1
        done.badges += 8 + i

    non_cqc = [_non_cqc(n) for n in (1, 2, 3)]
    envelopes = []
    for registered, order in non_cqc:
        done.personal |= {
            registered.email,
            registered.phone or "",
            registered.postcode or "",
            order.delivery.recipient_name,
            order.delivery.address_line_1,
            order.reference,
        }
        # As identity and orders would: the event for everyone, and reporting's own.
        await platform.publish(registered)
        await platform.publish(AccountRegisteredForReporting.of(registered))
        reported = OrderPlacedForReporting.of(order, NON_CQC_PROVIDER)
        envelopes.append(wrap(reported, "reporting-test"))
        logged = await _placed_logged(platform)
        await platform.publish(reported, envelope=envelopes[-1])
        await eventually(lambda: _more_than(_placed_logged(platform), logged))
        await platform.publish(order)
        done.placed += 1
        done.badges += order.quantity
    # The same event twice: absorbed by the inbox, counted once.
    await platform.publish(envelopes[0].payload, envelope=envelopes[0])
    done.personal.add(REJECTION)

    queue = await eventually(lambda: _waiting_for(platform, {str(o.order_id) for _, o in non_cqc}))
    by_id = {q["order_id"]: q for q in queue}
    approve, reject = by_id[str(non_cqc[0][1].order_id)], by_id[str(non_cqc[1][1].order_id)]
    async with platform.client("verification") as verification:
        for item, body in (
            (approve, {"decision": "approve"}),
            (reject, {"decision": "reject", "reason": REJECTION}),
        ):
            response = await verification.post(
                f"/api/reviews/{item['order_id']}/decision",
                json={**body, "version": item["version"]},
                headers=staff("customer_service", REVIEWER_ID),
            )
            assert response.status_code == 204, response.text

    handoffs = await eventually(lambda: _handoffs(platform, CQC_ORDERS + 1), timeout=30)
    async with platform.client("dispatch") as dispatch:
        for handoff in handoffs[:2]:
            body = json.dumps(
                {
                    "shipment_reference": handoff["payload"]["shipment_reference"],
                    "status": "delivered",
                    "occurred_at": datetime.now(UTC).isoformat(),
                }
            ).encode()
            response = await dispatch.post(
                "/api/courier/status", content=body, headers=courier_headers(body)
            )
            assert response.status_code < 300, response.text
    await settled(platform)
    await eventually(lambda: _raw_total(platform, "orders_delivered", 2))
    return done


async def _waiting_for(platform: Platform, ids: set[str]) -> list[dict[str, Any]] | None:
    queue = await _queue(platform)
    return queue if ids <= {q["order_id"] for q in queue} else None


_seen_handoffs: list[dict[str, Any]] = []


async def _handoffs(platform: Platform, count: int) -> list[dict[str, Any]] | None:
    _seen_handoffs.extend(
        json.loads(m.body) for m in await platform.drain("courier.courier.handoff", 0.2)
    )
    return list(_seen_handoffs) if len(_seen_handoffs) >= count else None


async def _raw_total(platform: Platform, metric: str, expected: int) -> bool:
    async with platform.service("reporting").db.transaction() as s:
        value = await s.scalar(
            text("SELECT coalesce(sum(value), 0) FROM daily_figures WHERE metric = :m"),
            {"m": metric},
        )
    return int(value or 0) == expected


async def _scalar(platform: Platform, service: str, sql: str) -> int:
    async with platform.service(service).db.transaction() as s:
        return int(await s.scalar(text(sql)) or 0)


async def _unsuppressed(platform: Platform) -> Any:
    """A second reporting instance (a replica on the same store) that shows every count."""
    if len(platform.apps["reporting"]) < 2:
        await platform.start("reporting", suppression_threshold=1)
    return platform.client("reporting", 1)


# --- the figures ----------------------------------------------------------------------------


async def test_the_figures_agree_with_what_the_other_services_did(
    platform: Platform, driven: Driven
) -> None:
    async with await _unsuppressed(platform) as reporting:
        figures = (await reporting.get("/api/mi/figures", headers=staff("dhsc_analyst"))).json()
    stages = figures["stages"]
    assert stages["placed"] == {"orders": driven.placed, "badges": driven.badges}
    # Orders placed through the site, plus the three that arrived as events.
    placed_on_site = await _scalar(platform, "orders", "SELECT count(*) FROM orders")
    assert stages["placed"]["orders"] == placed_on_site + 3
    verified = await _scalar(
        platform, "verification", "SELECT count(*) FROM orders WHERE state = 'verified'"
    )
    assert stages["verified"]["orders"] == verified == CQC_ORDERS + 1
    assert stages["referred"]["orders"] == 3
    assert stages["rejected"]["orders"] == 1
    dispatched = await _scalar(platform, "dispatch", "SELECT count(*) FROM shipments")
    assert stages["dispatched"]["orders"] == dispatched == CQC_ORDERS + 1
    assert stages["delivered"]["orders"] == 2
    assert figures["review_backlog"]["orders"] == 1  # the third non-CQC order still waits
    # The order has waited seconds, and says so (not "0.5 hours" read off an hour bucket).
    assert figures["review_backlog"]["oldest_wait"]["unit"] in ("seconds", "minutes")
    assert figures["waitlist"]["orders"] == 0
    times = figures["placed_to_dispatched"]
    assert times["orders"] == dispatched and times["median"]["unit"] == "seconds"
    assert "log-spaced" in times["method"]

    stock = figures["stock"]
    received = await _scalar(
        platform, "dispatch", "SELECT received FROM stock WHERE item = 'badge'"
    )
    assert stock["received"] == received == 100_000
    assert stock["allocated"] == stages["dispatched"]["badges"]
    assert stock["available"] == await _scalar(
        platform,
        "dispatch",
        "SELECT received - reserved - allocated FROM stock WHERE item = 'badge'",
    )
    # Every order was placed today: no full day yet, so no forecast, said plainly.
    forecast = figures["forecast"]
    assert forecast["status"] == "too_little_data" and forecast["run_out_on"] is None
    assert "not enough data" in forecast["summary"]
    share = figures["workforce"]["share_ordered"]
    assert share == round(driven.badges / 1_500_000, 5)


async def test_small_counts_are_suppressed_in_every_output(
    platform: Platform, driven: Driven
) -> None:
    async with platform.client("reporting") as reporting:
        figures = (await reporting.get("/api/mi/figures", headers=staff("dhsc_analyst"))).json()
        summary = (await reporting.get("/api/mi/summary", headers=staff("dhsc_analyst"))).json()
        regions = (
            await reporting.get("/api/mi/breakdowns/region", headers=staff("dhsc_analyst"))
        ).json()
        daily_csv = await reporting.get("/api/mi/daily.csv", headers=staff("dhsc_analyst"))
    assert figures["stages"]["placed"]["orders"] == driven.placed  # 9: shown
    assert figures["stages"]["rejected"] == {"orders": "suppressed", "badges": "suppressed"}
    assert figures["review_backlog"]["orders"] == "suppressed"
    assert (
        summary["orders_delivered"] == "suppressed" and summary["badges_delivered"] == "suppressed"
    )
    assert summary["orders_placed"] == driven.placed
    # No region has five orders: every non-zero cell is hidden, none can be worked out.
    cells = [row["figures"]["orders_placed"] for row in regions["rows"]]
    assert cells and all(c in ("suppressed", 0) for c in cells)
    assert "5" in regions["suppression"]["rule"] or "4" in regions["suppression"]["rule"]
    rows = list(csv.DictReader(io.StringIO(daily_csv.text)))
    assert daily_csv.headers["content-type"].startswith("text/csv")
    delivered = [r for r in rows if r["metric"] == "orders_delivered"]
    assert delivered and all(r["value"] == "suppressed" for r in delivered)


async def test_breakdowns_file_orders_under_their_categories(
    platform: Platform, driven: Driven
) -> None:
    async with await _unsuppressed(platform) as reporting:
        by_cqc = (
            await reporting.get("/api/mi/breakdowns/cqc", headers=staff("dhsc_analyst"))
        ).json()
        by_type = (
            await reporting.get("/api/mi/breakdowns/org_type", headers=staff("dhsc_analyst"))
        ).json()
        by_la = await reporting.get(
            "/api/mi/breakdowns/local_authority.csv", headers=staff("dhsc_analyst")
        )
        daily = (
            await reporting.get(
                "/api/mi/breakdowns/region/daily",
                params={"metric": "badges_placed"},
                headers=staff("dhsc_analyst"),
            )
        ).json()
        unknown = await reporting.get("/api/mi/breakdowns/postcode", headers=staff("dhsc_analyst"))
        bad_metric = await reporting.get(
            "/api/mi/daily", params={"metric": "x"}, headers=staff("dhsc_analyst")
        )
    cqc = {r["value"]: r["figures"]["orders_placed"] for r in by_cqc["rows"]}
    assert cqc == {"CQC-registered": CQC_ORDERS, "Not CQC-registered": 3}
    types = {r["value"]: r["figures"]["orders_placed"] for r in by_type["rows"]}
    assert types["Provider not registered with CQC"] == 3
    assert sum(types.values()) == driven.placed
    assert "Not known" not in types  # every CQC location's type was learnt from sign-in
    la_rows = list(csv.DictReader(io.StringIO(by_la.text)))
    assert sum(int(r["orders_placed"]) for r in la_rows) == driven.placed
    assert {"Not known"} <= {r["local_authority"] for r in la_rows}  # non-CQC: no LA given
    total = sum(columns["cumulative"][-1] for columns in daily["series"].values())
    assert len(daily["days"]) == len(next(iter(daily["series"].values()))["value"])
    assert total == driven.badges
    assert unknown.status_code == 422 and bad_metric.status_code == 400


async def test_only_analysts_see_the_figures(platform: Platform, driven: Driven) -> None:
    async with platform.client("reporting") as reporting:
        anonymous = await reporting.get("/api/mi/figures")
        provider = await reporting.get(
            "/api/mi/figures", headers=bearer(mint("provider", kind="cqc"))
        )
        page = await reporting.get("/mi")
        download = await reporting.get("/mi/downloads/figures.csv")
        page_as_reviewer = await reporting.get(
            "/mi", headers=staff("customer_service", REVIEWER_ID)
        )
    assert anonymous.status_code == 401 and provider.status_code == 403
    # A browser without a staff session is sent to sign in, and back to the page after.
    assert page.status_code == 303 and page.headers["location"] == "/sign-in?next=%2Fmi"
    assert download.status_code == 303
    assert page_as_reviewer.status_code == 403


async def test_the_page_shows_the_figures_as_charts_with_their_data(
    platform: Platform, driven: Driven
) -> None:
    async with platform.client("reporting") as reporting:
        page = await reporting.get("/mi", headers=staff("dhsc_analyst"))
        as_operations = await reporting.get("/mi", headers=staff("operations"))
        css = await reporting.get("/mi/mi.css")
        csvs = [
            await reporting.get(path, headers=staff("dhsc_analyst"))
            for path in ("/api/mi/figures.csv", "/api/mi/breakdowns/org_type/daily.csv")
        ]
    assert page.status_code == 200 and as_operations.status_code == 200
    body = page.text
    assert page.headers["content-type"].startswith("text/html")
    assert body.count("<svg") >= 6 and 'role="img"' in body
    assert "Orders placed" in body and "Show the data" in body and "suppressed" in body
    assert "style=" not in body  # the CSP allows no inline styles
    assert all('nonce="' in tag for tag in re.findall(r"<script[^>]*>", body))  # nor scripts
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for response in csvs:
        assert response.status_code == 200, response.text
        assert response.headers["content-disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO(csvs[0].text)))
    names = [name for name, _ in rows]
    assert len(names) == len(set(names))  # every figure named once
    summary = dict(rows)
    assert summary["stages.placed.orders"] == str(driven.placed)
    assert "review_backlog.by_age[Under 1 day].orders" in summary
    assert "placed_to_dispatched.by_time[Under 1 second].orders" in summary
    assert summary["placed_to_dispatched.median.unit"] == "seconds"


# --- rebuilding -----------------------------------------------------------------------------


async def _counters(platform: Platform) -> dict[str, set[tuple[Any, ...]]]:
    """Every non-zero amount in every counter table, each per-day series spread into days.

    A zero is no figure: a live counter that went up and back down (a step filed under
    "Not known" until its placement arrived) leaves a zero that a rebuild never writes.
    """
    out: dict[str, set[tuple[Any, ...]]] = {}
    async with platform.service("reporting").db.transaction() as s:
        for t in COUNTERS:
            if t.name == "daily_breakdown":
                rows = await s.execute(
                    text(
                        "SELECT dimension, metric, dim_value, day, n FROM daily_breakdown,"
                        " unnest(counts) WITH ORDINALITY AS c(n, i),"
                        " LATERAL (SELECT array_lower(counts, 1) + i - 1 AS day) AS d"
                        " WHERE coalesce(n, 0) <> 0"
                    )
                )
                out[t.name] = {tuple(r) for r in rows.all()}
                continue
            keys = {c.name for c in t.primary_key.columns}
            rows = await s.execute(t.select())
            out[t.name] = {
                tuple(r)
                for r in rows.all()
                if any(v for k, v in r._mapping.items() if k not in keys)
            }
    return out


async def test_a_rebuild_from_the_event_log_gives_identical_figures(
    platform: Platform, driven: Driven
) -> None:
    before = await _counters(platform)
    assert before["daily_figures"] and before["breakdown_totals"] and before["dispatch_durations"]
    report = await rebuild(platform.service("reporting").db)
    assert report.orders == driven.placed
    assert await _counters(platform) == before

    # Damage every counter, then rebuild with the command an operator would run.
    async with platform.service("reporting").db.transaction() as s:
        await s.execute(text("DELETE FROM daily_figures"))
        await s.execute(text("UPDATE breakdown_totals SET value = value + 7"))
        await s.execute(text("DELETE FROM open_items"))
    assert await _counters(platform) != before
    result = subprocess.run(
        [sys.executable, "-m", "services.reporting.cli", "rebuild"],
        env={**os.environ, "CARE_REPORTING_DATABASE_URL": platform.database_url("reporting")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"about {driven.placed} orders" in result.stdout
    assert await _counters(platform) == before


# --- no personal data -----------------------------------------------------------------------


async def _reporting_dump(platform: Platform) -> str:
    async with platform.service("reporting").db.transaction() as s:
        tables = (
            (
                await s.execute(
                    text(
                        "SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
                    )
                )
            )
            .scalars()
            .all()
        )
        dump = []
        for table in tables:
            rows = (await s.execute(text(f'SELECT * FROM "{table}"'))).all()
            dump.append(f"{table}: " + "\n".join(repr(tuple(r)) for r in rows))
    assert "event_log" in tables and "order_progress" in tables
    return "\n".join(dump)


async def _metric_labels(platform: Platform) -> set[str]:
    values: set[str] = set()
    for name in SERVICES:
        async with platform.client(name) as client:
            exposition = (await client.get("/metrics")).text
        for family in text_string_to_metric_families(exposition):
            for sample in family.samples:
                values |= set(sample.labels.values())
    return values


async def test_the_reporting_store_and_every_metric_label_hold_no_personal_data(
    platform: Platform, driven: Driven
) -> None:
    dump = (await _reporting_dump(platform)).lower()
    labels = await _metric_labels(platform)
    label_text = "\n".join(labels).lower()
    assert "event_type" not in label_text  # label values, not names
    assert "orderplaced" in label_text  # and they were really collected
    personal = {p for p in driven.personal if len(p) >= 5}
    assert len(personal) >= 30
    leaks = sorted(p for p in personal if p.lower() in dump or p.lower() in label_text)
    assert leaks == []
    # Postcodes without their space, and phone numbers without theirs, too.
    squashed = {p.replace(" ", "").lower() for p in personal if any(c.isdigit() for c in p)}
    assert not [p for p in squashed if len(p) >= 5 and (p in dump.replace(" ", ""))]
