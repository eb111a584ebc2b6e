"""Turning stored counters into the figures DHSC sees: suppression, medians, the stock forecast.

Pure functions over numbers the store has already summed; nothing here reads an event.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.reporting.domain.progress import STAGES

SUPPRESSED = "suppressed"

Shown = int | str

#: Figures about orders (and so about organisations): subject to small-number suppression.
ORDER_METRICS = (
    *(f"orders_{s}" for s in STAGES),
    *(f"badges_{s}" for s in STAGES),
    "parcels_dispatched",
    "referrals_closed",
)
#: Figures about the warehouse and sign-ups: no organisation can be picked out of them.
STOCK_METRICS = ("stock_received", "stock_reserved", "stock_released", "stock_allocated")
OTHER_METRICS = ("accounts_registered",)
METRICS = (*ORDER_METRICS, *STOCK_METRICS, *OTHER_METRICS)

LABELS = {
    **{f"orders_{s}": f"Orders {s}" for s in STAGES},
    **{f"badges_{s}": f"Badges {s}" for s in STAGES},
    "parcels_dispatched": "Parcels dispatched",
    "referrals_closed": "Referrals decided",
    "stock_received": "Badges received into stock",
    "stock_reserved": "Badges reserved for orders",
    "stock_released": "Badges released from reservations",
    "stock_allocated": "Badges allocated to parcels",
    "accounts_registered": "Accounts registered",
}


def governing(metric: str) -> str | None:
    """The order count whose size decides whether ``metric`` may be shown (None: always shown).

    A badge or parcel total is suppressed together with the count of orders it belongs to, or
    it would tell how many staff one organisation has.
    """
    if metric.startswith(("orders_", "badges_")):
        return "orders_" + metric.split("_", 1)[1]
    if metric == "parcels_dispatched":
        return "orders_dispatched"
    if metric == "referrals_closed":
        return metric
    return None


def is_small(count: int, threshold: int) -> bool:
    return 0 < count < threshold


def rounded(value: int, base: int) -> int:
    """``value`` to the nearest multiple of ``base`` (halves up), as ONS rounds published
    counts: no figure shown is exact, so no hidden one is the difference of shown ones
    (ADR 0028). Zero stays zero."""
    if base <= 1:
        return value
    sign = -1 if value < 0 else 1
    return sign * ((abs(value) + base // 2) // base) * base


def suppress(value: int, threshold: int, base: int = 1) -> Shown:
    """Small non-zero counts could identify an organisation: show them as suppressed; the
    others rounded to ``base``."""
    return SUPPRESSED if is_small(value, threshold) else rounded(value, base)


def suppress_row(row: Mapping[str, int], threshold: int, base: int = 1) -> dict[str, Shown]:
    """One cell's figures, each hidden when the order count governing it is small, and each
    figure about orders rounded to ``base``."""
    out: dict[str, Shown] = {}
    for metric, value in row.items():
        rule = governing(metric)
        hide = rule is not None and is_small(
            row.get(rule, value if rule == metric else 0), threshold
        )
        out[metric] = SUPPRESSED if hide else rounded(value, base) if rule else value
    return out


def hidden_in_column(counts: Sequence[int], threshold: int) -> set[int]:
    """Which cells of one column of order counts to hide: primary and complementary.

    Primary: every small count. Then, if exactly one cell is hidden, the next smallest non-zero
    cell is hidden too: otherwise the hidden one is the published total minus the others.
    """
    hidden = {i for i, n in enumerate(counts) if 0 < n < threshold}
    if len(hidden) == 1:
        others = [(n, i) for i, n in enumerate(counts) if n > 0 and i not in hidden]
        if others:
            hidden.add(min(others)[1])
    return hidden


def suppress_table(
    cells: Mapping[str, Mapping[str, int]], threshold: int, base: int = 1
) -> dict[str, dict[str, Shown]]:
    """A breakdown (cell -> metric -> count) with primary and complementary suppression of
    each order count (:func:`hidden_in_column`), and the badges and parcels that go with it;
    every figure shown rounded to ``base``."""
    names = list(cells)
    hidden: dict[str, set[str]] = {cell: set() for cell in names}
    counts = sorted({m for row in cells.values() for m in row if governing(m) == m})
    for metric in counts:
        for i in hidden_in_column([cells[c].get(metric, 0) for c in names], threshold):
            hidden[names[i]].add(metric)
    return {
        cell: {
            metric: SUPPRESSED if governing(metric) in hidden[cell] else rounded(value, base)
            for metric, value in row.items()
        }
        for cell, row in cells.items()
    }
