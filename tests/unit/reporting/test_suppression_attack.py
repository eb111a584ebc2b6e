"""Item 12 of the privacy audit: no suppressed figure can be worked out from what is published
at the same time (ADR 0028).

An attacker takes everything the summary and the four breakdowns publish at one moment and
every relation between them they could know: each breakdown sums to the summary's total, the
CQC breakdown's two cells are the sums of the CQC and the other organisation types, and (in
the scenario, with no rejections or cancellations) orders placed are the orders verified plus
the review backlog. Each published figure says the true one lies in an interval: "suppressed"
is at least 1 (small, or hidden beside a small one), 0 is exactly 0, and a number
shown rounded to the base is within half a base of it. The attacker narrows those intervals
through every relation until nothing moves, and a suppressed figure is worked out when its
interval is one number.

Without rounding (base 1, the rule before ADR 0028) the audit's two findings come back: the
non-CQC orders (3 orders, 43 badges) from the organisation types and the summary, and the
review backlog (1 order, 17 badges) from placed minus verified. With rounding neither does,
nor does any suppressed figure of a few hundred random small publications.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.reporting.domain.figures import SUPPRESSED
from services.reporting.domain.progress import DIMENSIONS
from services.reporting.usecases import report
from services.reporting.usecases.report import Rules

THRESHOLD = 5
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CQC_TYPES = ("Residential care", "Community-based care", "Hospice")
OTHER_TYPES = ("Provider not registered with CQC", "Local authority")


class Store:
    """What the repository would answer, from a list of orders (type, region, la, badges,
    verified)."""

    def __init__(self, orders: list[tuple[str, str, str, int, bool]]) -> None:
        self.orders = orders

    def cells(self, dimension: str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for org_type, region, la, badges, verified in self.orders:
            value = {
                "org_type": org_type,
                "region": region,
                "local_authority": la,
                "cqc": "CQC-registered" if org_type in CQC_TYPES else "Not CQC-registered",
            }[dimension]
            row = out.setdefault(value, {})
            for metric, amount in (
                ("orders_placed", 1),
                ("badges_placed", badges),
                ("orders_verified", int(verified)),
                ("badges_verified", badges if verified else 0),
                ("orders_referred", int(not verified)),
                ("badges_referred", 0 if verified else badges),
            ):
                row[metric] = row.get(metric, 0) + amount
        return out

    def totals(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for row in self.cells("region").values():
            for metric, amount in row.items():
                total[metric] = total.get(metric, 0) + amount
        return total

    def backlog(self) -> tuple[int, int]:
        waiting = [b for *_, b, verified in self.orders if not verified]
        return len(waiting), sum(waiting)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Store]]:
    holder: list[Store] = []

    async def totals(_: Any) -> dict[str, int]:
        return holder[0].totals()

    async def breakdown(_: Any, dimension: str) -> dict[str, dict[str, int]]:
        return holder[0].cells(dimension)

    async def histogram(_: Any) -> dict[int, int]:
        return {}

    async def national_daily(_: Any, metrics: Any = None) -> list[Any]:
        return []

    async def waiting(_: Any, kind: str, now: datetime, bands: Any) -> Any:
        orders, badges = holder[0].backlog() if kind == "review" else (0, 0)
        first = [(orders, badges)] + [(0, 0)] * (len(bands) - 1)
        return orders, badges, NOW if orders else None, first

    repo = report.repository
    monkeypatch.setattr(repo, "totals", totals)
    monkeypatch.setattr(repo, "breakdown", breakdown)
    monkeypatch.setattr(repo, "dispatch_histogram", histogram)
    monkeypatch.setattr(repo, "national_daily", national_daily)
    monkeypatch.setattr(repo, "waiting", waiting)
    yield holder


# --- the attacker ---------------------------------------------------------------------------

Interval = tuple[float, float]
BIG = 10**9


def interval(shown: Any, base: int, count: bool) -> Interval:
    if shown == SUPPRESSED:  # small, or hidden beside a small one (complementary): any size
        return (1, BIG)
    if shown == 0:
        return (0, 0)
    low, high = shown - base // 2, shown + (base - 1) // 2
    return (max(low, THRESHOLD if count else 1, 0), high)


async def publish(rules: Rules) -> dict[str, Any]:
    summary = await report.figures(None, rules, NOW)  # type: ignore[arg-type]
    tables = {d: await report.breakdown(None, rules, d) for d in DIMENSIONS}  # type: ignore[arg-type]
    return {"summary": summary, "tables": tables}


def attack(published: dict[str, Any], base: int) -> dict[str, int]:
    """Every suppressed figure the attacker pins to one number, by name."""
    known: dict[str, Interval] = {}
    hidden: set[str] = set()

    def note(name: str, shown: Any, count: bool) -> str:
        known[name] = interval(shown, base, count)
        if shown == SUPPRESSED:
            hidden.add(name)
        return name

    relations: list[tuple[str, list[str]]] = []
    summary = published["summary"]
    for unit, count in (("orders", True), ("badges", False)):
        total = {
            stage: note(f"{stage}.{unit}", summary["stages"][stage][unit], count)
            for stage in ("placed", "verified", "referred")
        }
        backlog = note(f"backlog.{unit}", summary["review_backlog"][unit], count)
        relations.append((total["placed"], [total["verified"], backlog]))
        relations.append((total["referred"], [backlog]))
        relations.append((backlog, [total["referred"]]))
        for dimension, rows in published["tables"].items():
            for stage in ("placed", "verified", "referred"):
                metric = f"{unit}_{stage}"
                cells = {
                    row["value"]: note(
                        f"{dimension}:{row['value']}.{metric}", row["figures"][metric], count
                    )
                    for row in rows
                }
                relations.append((total[stage], list(cells.values())))
                if dimension == "org_type":
                    by_cqc = {
                        r["value"]: f"cqc:{r['value']}.{metric}" for r in published["tables"]["cqc"]
                    }
                    for side, types in (
                        ("CQC-registered", CQC_TYPES),
                        ("Not CQC-registered", OTHER_TYPES),
                    ):
                        if side in by_cqc:
                            relations.append(
                                (by_cqc[side], [cells[t] for t in types if t in cells])
                            )

    for _ in range(200):
        moved = False
        for total_name, parts in relations:
            lo = sum(known[p][0] for p in parts)
            hi = sum(known[p][1] for p in parts)
            t_lo, t_hi = known[total_name]
            new_total = (max(t_lo, lo), min(t_hi, hi))
            if new_total != known[total_name]:
                known[total_name], moved = new_total, True
            for p in parts:
                others_lo = lo - known[p][0]
                others_hi = hi - known[p][1]
                narrowed = (
                    max(known[p][0], known[total_name][0] - others_hi),
                    min(known[p][1], known[total_name][1] - others_lo),
                )
                if narrowed != known[p]:
                    known[p], moved = narrowed, True
        if not moved:
            break
    return {name: int(known[name][0]) for name in hidden if known[name][0] == known[name][1]}


# --- the audit's two findings ---------------------------------------------------------------


def audit_scenario() -> Store:
    """45 orders: 42 CQC (residential and community-based), 3 not (2 providers, 1 council,
    43 badges), all in one region; one non-CQC order (17 badges) waits for review."""
    orders = [("Residential care", "London", "Camden", 13, True)] * 30
    orders += [("Community-based care", "London", "Camden", 12, True)] * 12
    orders += [("Provider not registered with CQC", "London", "Camden", 13, True)]
    orders += [("Provider not registered with CQC", "London", "Camden", 17, False)]
    orders += [("Local authority", "London", "Camden", 13, True)]
    return Store(orders)


async def test_without_rounding_the_audit_works_out_the_hidden_figures(store: list[Store]) -> None:
    store.append(audit_scenario())
    derived = attack(await publish(Rules(THRESHOLD, 1_500_000, rounding_base=1)), 1)
    assert derived["cqc:Not CQC-registered.orders_placed"] == 3
    assert derived["cqc:Not CQC-registered.badges_placed"] == 43
    assert derived["backlog.orders"] == 1
    assert derived["backlog.badges"] == 17


async def test_with_rounding_no_hidden_figure_can_be_worked_out(store: list[Store]) -> None:
    store.append(audit_scenario())
    published = await publish(Rules(THRESHOLD, 1_500_000))
    assert published["summary"]["review_backlog"]["orders"] == SUPPRESSED
    assert attack(published, 10) == {}


async def test_nor_in_random_small_publications(store: list[Store]) -> None:
    """300 random launches of 1 to 60 orders over up to 5 types, 3 regions, 6 authorities."""
    rng = random.Random(12)
    types = [*CQC_TYPES, *OTHER_TYPES]
    pinned: list[tuple[int, dict[str, int]]] = []
    tried = 0
    for case in range(300):
        orders = [
            (
                rng.choice(types[: rng.randint(2, 5)]),
                rng.choice(("London", "North West", "South East")[: rng.randint(1, 3)]),
                rng.choice(
                    ("Camden", "Leeds", "Kent", "Bury", "Hove", "Wigan")[: rng.randint(1, 6)]
                ),
                rng.randint(1, 60),
                rng.random() > 0.1,
            )
            for _ in range(rng.randint(1, 60))
        ]
        store[:] = [Store(orders)]
        published = await publish(Rules(THRESHOLD, 1_500_000))
        tried += str(published).count(SUPPRESSED)
        if derived := attack(published, 10):
            pinned.append((case, derived))
    assert tried > 1000  # the cases do hide figures
    assert pinned == []
