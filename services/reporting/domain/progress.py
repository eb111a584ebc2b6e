"""What one order adds to the figures, whatever order its events arrive in.

Reporting's figures are sums. Each order's contribution is a pure function of what is known
about it (:func:`order_figures` of an :class:`OrderState`); each event that is not about an
order contributes on its own (:func:`event_figures`). When an event arrives, the handler
merges its fact into the order's state and applies ``order_figures(after) -
order_figures(before)`` to the stored counters. Because merging keeps the earliest time of
each step, the final state (and so every figure) does not depend on the order the events came
in, and a rebuild that folds the log order by order gives exactly the same counters.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from services.reporting.domain.durations import bucket_of
from services.reporting.domain.facts import (
    CQC_REGISTERED,
    NOT_CQC_REGISTERED,
    NOT_KNOWN,
    RESERVED_WITH_DISPATCH,
    Fact,
)

#: Figures are counted by the day in England.
LONDON = ZoneInfo("Europe/London")


#: Steps of an order counted per day, as ``orders_<stage>`` and ``badges_<stage>``.
STAGES = (
    "placed",
    "verified",
    "referred",
    "rejected",
    "cancelled",
    "waitlisted",
    "dispatched",
    "delivered",
)

#: The breakdowns every order figure is also kept under.
DIMENSIONS = ("region", "local_authority", "org_type", "cqc")

REVIEW = "review"
WAITLIST = "waitlist"


class Dims(NamedTuple):
    """The organisation-level categories an order is reported under."""

    region: str = NOT_KNOWN
    local_authority: str = NOT_KNOWN
    org_type: str = NOT_KNOWN
    cqc: str = NOT_KNOWN

    def items(self) -> list[tuple[str, str]]:
        return list(zip(DIMENSIONS, self, strict=True))


UNKNOWN_DIMS = Dims()


@dataclass(frozen=True)
class OrderState:
    """What reporting knows of one order: the earliest time of each step, quantities, categories.

    No identifier is part of it: the store links it to the order only while it is in progress.
    """

    placed_at: datetime | None = None
    quantity: int = 0
    dims: Dims = UNKNOWN_DIMS
    verified_at: datetime | None = None
    referred_at: datetime | None = None
    rejected_at: datetime | None = None
    cancelled_at: datetime | None = None
    waitlisted_at: datetime | None = None
    waitlisted_quantity: int = 0
    reserved_at: datetime | None = None
    released_at: datetime | None = None
    dispatched_at: datetime | None = None
    dispatched_quantity: int = 0
    parcels: int = 0
    delivered_at: datetime | None = None

    @property
    def settled(self) -> bool:
        """Nothing more is expected for this order."""
        return bool(self.delivered_at or self.rejected_at or self.cancelled_at)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                out[f.name] = value.isoformat()
            elif isinstance(value, Dims):
                out[f.name] = list(value)
            elif value:
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> OrderState:
        if not data:
            return cls()
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            raw = data[f.name]
            if f.name == "dims":
                values[f.name] = Dims(*raw)
            elif f.name.endswith("_at"):
                values[f.name] = datetime.fromisoformat(raw)
            else:
                values[f.name] = raw
        return cls(**values)


def _earliest(current: datetime | None, new: datetime) -> datetime:
    return new if current is None or new < current else current


def _time(fact: Fact) -> datetime:
    moment = datetime.fromisoformat(fact["at"])
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def merge(state: OrderState, event_type: str, fact: Fact) -> OrderState:
    """The state once ``fact`` is known. Commutative: a step's earliest report wins."""
    at = _time(fact)
    match event_type:
        case "OrderPlaced":
            if state.placed_at is not None and state.placed_at <= at:
                return state
            return replace(
                state,
                placed_at=at,
                quantity=int(fact["quantity"]),
                dims=Dims(
                    fact["region"],
                    fact["local_authority"],
                    fact["org_type"],
                    CQC_REGISTERED if fact["cqc"] else NOT_CQC_REGISTERED,
                ),
            )
        case "OrderVerified":
            return replace(state, verified_at=_earliest(state.verified_at, at))
        case "OrderReferred":
            return replace(state, referred_at=_earliest(state.referred_at, at))
        case "OrderRejected":
            return replace(state, rejected_at=_earliest(state.rejected_at, at))
        case "OrderCancelled":
            return replace(state, cancelled_at=_earliest(state.cancelled_at, at))
        case "StockWaitlisted":
            if state.waitlisted_at is not None and state.waitlisted_at <= at:
                return state
            return replace(state, waitlisted_at=at, waitlisted_quantity=int(fact["quantity"]))
        case "StockReserved":
            return replace(state, reserved_at=_earliest(state.reserved_at, at))
        case "StockReleased":
            return replace(state, released_at=_earliest(state.released_at, at))
        case "OrderDispatched":
            if state.dispatched_at is not None and state.dispatched_at <= at:
                return state
            return replace(
                state,
                dispatched_at=at,
                dispatched_quantity=int(fact["quantity"]),
                parcels=int(fact["parcels"]),
            )
        case "OrderDelivered":
            return replace(state, delivered_at=_earliest(state.delivered_at, at))
    return state


def day_of(moment: datetime) -> date:
    """The day in England on which something happened."""
    return moment.astimezone(LONDON).date()


def second_of(moment: datetime) -> datetime:
    """The second (UTC) something started waiting: open items are kept to the second, so the
    oldest wait reads true whether it is seconds or weeks old."""
    return moment.astimezone(UTC).replace(microsecond=0)


CountKey = tuple[date, str, Dims | None]


@dataclass
class Figures:
    """Counter amounts to add: day figures (``dims`` None for national-only figures such as
    stock), placed-to-dispatched times by dispatch day and log-spaced bucket
    (:mod:`services.reporting.domain.durations`), and open items by the second they opened."""

    counts: dict[CountKey, int] = field(default_factory=lambda: defaultdict(int))
    dispatch_durations: dict[tuple[date, int], int] = field(
        default_factory=lambda: defaultdict(int)
    )
    open_items: dict[tuple[str, datetime], tuple[int, int]] = field(default_factory=dict)

    def count(self, day: date, metric: str, amount: int, dims: Dims | None) -> None:
        if amount:
            self.counts[(day, metric, dims)] += amount

    def open(self, kind: str, since: datetime, orders: int, badges: int) -> None:
        before = self.open_items.get((kind, since), (0, 0))
        self.open_items[(kind, since)] = (before[0] + orders, before[1] + badges)

    def add(self, other: Figures, sign: int = 1) -> Figures:
        for key, amount in other.counts.items():
            self.counts[key] += sign * amount
        for hkey, n in other.dispatch_durations.items():
            self.dispatch_durations[hkey] += sign * n
        for okey, (orders, badges) in other.open_items.items():
            self.open(okey[0], okey[1], sign * orders, sign * badges)
        return self

    def pruned(self) -> Figures:
        """Without the zero amounts (what is left of a delta once equal parts cancel)."""
        out = Figures()
        out.counts.update({k: v for k, v in self.counts.items() if v})
        out.dispatch_durations.update({k: v for k, v in self.dispatch_durations.items() if v})
        out.open_items.update({k: v for k, v in self.open_items.items() if v != (0, 0)})
        return out

    def __bool__(self) -> bool:
        return bool(self.counts or self.dispatch_durations or self.open_items)


def order_figures(state: OrderState) -> Figures:
    """Everything one order contributes, given what is known of it."""
    figures = Figures()
    dims = state.dims
    badges = state.dispatched_quantity or state.quantity

    def stage(name: str, at: datetime | None, quantity: int) -> None:
        if at is not None:
            figures.count(day_of(at), f"orders_{name}", 1, dims)
            figures.count(day_of(at), f"badges_{name}", quantity, dims)

    stage("placed", state.placed_at, state.quantity)
    stage("verified", state.verified_at, state.quantity)
    stage("referred", state.referred_at, state.quantity)
    stage("rejected", state.rejected_at, state.quantity)
    stage("cancelled", state.cancelled_at, state.quantity)
    stage("waitlisted", state.waitlisted_at, state.waitlisted_quantity)
    stage("dispatched", state.dispatched_at, state.dispatched_quantity)
    stage("delivered", state.delivered_at, badges)
    if state.dispatched_at is not None:
        figures.count(day_of(state.dispatched_at), "parcels_dispatched", state.parcels, dims)

    decided = [t for t in (state.verified_at, state.rejected_at, state.cancelled_at) if t]
    if state.referred_at is not None:
        if decided:
            # A referral leaves the review queue on the day it is decided (or cancelled).
            figures.count(day_of(min(decided)), "referrals_closed", 1, dims)
        else:
            figures.open(REVIEW, second_of(state.referred_at), 1, state.quantity)

    left_waitlist = (
        state.reserved_at,
        state.released_at,
        state.dispatched_at,
        state.rejected_at,
        state.cancelled_at,
    )
    if state.waitlisted_at is not None and not any(left_waitlist):
        figures.open(WAITLIST, second_of(state.waitlisted_at), 1, state.waitlisted_quantity)

    if state.placed_at is not None and state.dispatched_at is not None:
        seconds = (state.dispatched_at - state.placed_at).total_seconds()
        figures.dispatch_durations[(day_of(state.dispatched_at), bucket_of(seconds))] += 1
    return figures


def event_figures(event_type: str, fact: Fact) -> Figures:
    """What an event adds by itself, not through an order: stock movements and accounts."""
    figures = Figures()
    day = day_of(_time(fact))
    quantity = int(fact.get("quantity", 0))
    metric = {
        "StockReceived": "stock_received",
        "StockReserved": "stock_reserved",
        "StockReleased": "stock_released",
        "OrderDispatched": "stock_allocated",
    }.get(event_type)
    if metric:
        figures.count(day, metric, quantity, None)
    if event_type == "OrderDispatched":
        # Badges reserved and handed over in one step had no StockReserved of their own.
        figures.count(day, "stock_reserved", int(fact.get(RESERVED_WITH_DISPATCH, 0)), None)
    if event_type == "AccountRegistered":
        figures.count(day, "accounts_registered", 1, None)
    return figures


def change(before: OrderState, after: OrderState) -> Figures:
    """What moving an order from ``before`` to ``after`` adds to the counters."""
    return order_figures(after).add(order_figures(before), sign=-1).pruned()


#: The intervals operations watch, as (name, from, to) fields of the state.
STEPS = (
    ("placed_to_verified", "placed_at", "verified_at"),
    ("verified_to_dispatched", "verified_at", "dispatched_at"),
    ("placed_to_dispatched", "placed_at", "dispatched_at"),
    ("dispatched_to_delivered", "dispatched_at", "delivered_at"),
)


def completed_steps(before: OrderState, after: OrderState) -> list[tuple[str, float]]:
    """Intervals whose two ends became known with this change, with their length in seconds."""
    done = []
    for name, start, end in STEPS:
        was = getattr(before, start) is not None and getattr(before, end) is not None
        a, b = getattr(after, start), getattr(after, end)
        if not was and a is not None and b is not None:
            done.append((name, max((b - a).total_seconds(), 0.0)))
    return done
