"""Reporting's rules: what is kept of an event, what an order adds, and what may be shown."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta

from services.reporting.domain.durations import bucket_of
from services.reporting.domain.facts import (
    FACT_KEYS,
    LOCAL_AUTHORITY,
    NON_CQC_PROVIDER,
    NOT_KNOWN,
    OTHER_CQC,
    organisation_type,
    organisation_type_of_category,
    reduce,
)
from services.reporting.domain.figures import (
    SUPPRESSED,
    suppress,
    suppress_row,
    suppress_table,
)
from services.reporting.domain.progress import (
    REVIEW,
    WAITLIST,
    Dims,
    Figures,
    OrderState,
    change,
    completed_steps,
    event_figures,
    merge,
    order_figures,
)
from shared.events import (
    AccountKind,
    AccountRegistered,
    AccountRegisteredForReporting,
    Delivery,
    OrderDelivered,
    OrderDispatched,
    OrderLine,
    OrderPlaced,
    OrderPlacedForReporting,
    OrderReferred,
    OrderRejected,
    OrderVerified,
    PortalClosed,
    StockReceived,
    StockReserved,
    StockWaitlisted,
    SubjectDataProvided,
)

T0 = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def placed(quantity: int = 12, kind: AccountKind = AccountKind.CQC) -> OrderPlaced:
    return OrderPlaced(
        order_id=uuid.uuid4(),
        reference="CB-ABC1234",
        account_id=uuid.uuid4(),
        account_kind=kind,
        placed_at=T0,
        placement_seq=1,
        lines=[OrderLine(location_id="1-101", staff_count=quantity)],
        quantity=quantity,
        delivery=Delivery(
            recipient_name="Priya Unlikelyname",
            organisation_name="Sunny Days Care",
            address_line_1="7 Quietlane Road",
            city="Leeds",
            postcode="LS1 4AP",
        ),
        region="Yorkshire and The Humber",
        local_authority="Leeds",
    )


# --- what is kept ---------------------------------------------------------------------------


def test_a_placed_order_keeps_numbers_and_categories_and_nothing_personal() -> None:
    order = placed()
    kept = reduce(OrderPlacedForReporting.of(order, "Residential care"), T0)
    assert kept is not None and kept.order_id == order.order_id
    assert kept.fact == {
        "at": T0.isoformat(),
        "quantity": 12,
        "region": "Yorkshire and The Humber",
        "local_authority": "Leeds",
        "org_type": "Residential care",
        "cqc": True,
    }
    text = str(kept.fact)
    for personal in ("Priya", "Quietlane", "LS1", "CB-ABC", "Sunny", str(order.account_id)):
        assert personal not in text


def test_free_text_and_people_are_never_kept() -> None:
    rejected = OrderRejected(
        order_id=uuid.uuid4(), reviewer_id=uuid.uuid4(), reason="Rang Jo Bloggs on 07700 900123"
    )
    referred = OrderReferred(order_id=uuid.uuid4(), reasons=["Phone 07700 900123 not answered"])
    account = AccountRegistered(
        account_id=uuid.uuid4(),
        kind=AccountKind.NON_CQC,
        email="jo@example.org",
        phone="07700 900123",
        postcode="LS1 4AP",
    )
    for event in (rejected, referred, AccountRegisteredForReporting.of(account)):
        kept = reduce(event, T0)
        assert kept is not None
        assert set(kept.fact) <= FACT_KEYS
        assert "07700" not in str(kept.fact) and "jo@" not in str(kept.fact)
    registered = reduce(AccountRegisteredForReporting.of(account), T0)
    assert registered is not None
    assert (registered.event_type, registered.fact) == (
        "AccountRegistered",
        {"at": T0.isoformat(), "kind": "non_cqc"},
    )
    # Reporting no longer reads the events that carry personal data, even if one reached it.
    assert reduce(account, T0) is None
    assert reduce(placed(), T0) is None
    data = SubjectDataProvided(
        request_id=uuid.uuid4(), account_id=uuid.uuid4(), service="orders", data={"x": "y"}
    )
    assert reduce(data, T0) is None
    assert reduce(PortalClosed(closed_at=T0), T0) is None


def test_organisation_types_come_from_the_register_category_or_the_account_kind() -> None:
    assert organisation_type_of_category(" Residential social care ") == "Residential care"
    assert organisation_type_of_category("Community based adult social care services") == (
        "Community-based care"
    )
    assert organisation_type_of_category("Something new") == OTHER_CQC
    assert organisation_type(AccountKind.CQC, ["Hospice", "Residential care"]) == "Hospice"
    assert organisation_type(AccountKind.CQC, []) == OTHER_CQC
    assert organisation_type(AccountKind.NON_CQC, ["Hospice"]) == NON_CQC_PROVIDER
    assert organisation_type(AccountKind.LOCAL_AUTHORITY, []) == LOCAL_AUTHORITY


def test_an_empty_region_is_filed_as_not_known() -> None:
    order = placed().model_copy(update={"region": " ", "local_authority": ""})
    kept = reduce(OrderPlacedForReporting.of(order, OTHER_CQC), T0)
    assert kept is not None
    assert kept.fact["region"] == kept.fact["local_authority"] == NOT_KNOWN


# --- what an order adds ---------------------------------------------------------------------


def lifecycle(quantity: int = 12) -> list[tuple[str, dict[str, object]]]:
    """An order referred, approved, dispatched and delivered, as (type, fact) pairs."""
    order = placed(quantity)
    events = [
        reduce(OrderPlacedForReporting.of(order, "Residential care"), T0),
        reduce(OrderReferred(order_id=order.order_id, reasons=["x"]), T0 + timedelta(minutes=1)),
        reduce(
            StockReserved(order_id=order.order_id, quantity=quantity), T0 + timedelta(minutes=1)
        ),
        reduce(OrderVerified(order_id=order.order_id, decided_by="r"), T0 + timedelta(hours=30)),
        reduce(
            OrderDispatched(
                order_id=order.order_id, shipment_reference="S", parcel_count=2, quantity=quantity
            ),
            T0 + timedelta(hours=31, minutes=20),
        ),
        reduce(
            OrderDelivered(
                order_id=order.order_id, shipment_reference="S", delivered_at=T0 + timedelta(days=3)
            ),
            T0 + timedelta(days=3),
        ),
    ]
    return [(e.event_type, e.fact) for e in events if e is not None]


def fold(events: list[tuple[str, dict[str, object]]]) -> tuple[OrderState, Figures]:
    """Apply events one by one as the handler does: the state and the counters moved."""
    state, total = OrderState(), Figures()
    for event_type, fact in events:
        after = merge(state, event_type, fact)
        total.add(change(state, after)).add(event_figures(event_type, fact))
        state = after
    return state, total.pruned()


def test_the_figures_do_not_depend_on_the_order_events_arrive_in() -> None:
    events = lifecycle()
    expected_state, expected = fold(events)
    for shuffled in itertools.permutations(events):
        state, figures = fold(list(shuffled))
        assert state == expected_state
        assert figures.counts == expected.counts
        assert figures.dispatch_durations == expected.dispatch_durations
        assert figures.open_items == expected.open_items


def test_a_settled_order_counts_each_stage_once_on_its_day_under_its_categories() -> None:
    state, figures = fold(lifecycle(12))
    dims = Dims("Yorkshire and The Humber", "Leeds", "Residential care", "CQC-registered")
    day = T0.date()
    assert figures.counts[(day, "orders_placed", dims)] == 1
    assert figures.counts[(day, "badges_placed", dims)] == 12
    assert figures.counts[(day, "orders_referred", dims)] == 1
    assert figures.counts[(day + timedelta(days=1), "orders_verified", dims)] == 1
    assert figures.counts[(day + timedelta(days=1), "referrals_closed", dims)] == 1
    assert figures.counts[(day + timedelta(days=1), "parcels_dispatched", dims)] == 2
    assert figures.counts[(day + timedelta(days=3), "badges_delivered", dims)] == 12
    # Stock figures are national only.
    assert figures.counts[(day, "stock_reserved", None)] == 12
    assert figures.counts[(day + timedelta(days=1), "stock_allocated", None)] == 12
    assert figures.dispatch_durations == {
        (day + timedelta(days=1), bucket_of((31 * 60 + 20) * 60.0)): 1
    }
    assert figures.open_items == {}  # nothing waits once it is decided and dispatched
    assert state.settled
    assert all(dims_ in (dims, None) for _, _, dims_ in figures.counts)


def test_a_step_seen_before_the_placement_moves_to_its_categories_when_it_arrives() -> None:
    events = lifecycle()
    verified_first = [events[3], events[0]]
    state = OrderState()
    after = merge(state, *verified_first[0])
    early = change(state, after)
    assert early.counts == {
        ((T0 + timedelta(hours=30)).date(), "orders_verified", Dims()): 1,
    }
    later = change(after, merge(after, *verified_first[1]))
    unknown = [k for k, v in later.counts.items() if k[2] == Dims()]
    assert [later.counts[k] for k in unknown] == [-1]  # taken back from "Not known"


def test_referred_orders_wait_for_review_until_decided_and_the_waitlist_until_stock() -> None:
    order = placed(40, AccountKind.NON_CQC)
    state = merge(OrderState(), *_pair(reduce(OrderPlacedForReporting.of(order, OTHER_CQC), T0)))
    state = merge(state, *_pair(reduce(OrderReferred(order_id=order.order_id, reasons=["x"]), T0)))
    state = merge(state, *_pair(reduce(StockWaitlisted(order_id=order.order_id, quantity=40), T0)))
    # Kept to the second they started waiting, so the oldest wait reads true at any age.
    assert order_figures(state).open_items == {(REVIEW, T0): (1, 40), (WAITLIST, T0): (1, 40)}
    rejected = OrderRejected(order_id=order.order_id, reviewer_id=uuid.uuid4(), reason="no")
    state = merge(state, *_pair(reduce(rejected, T0 + timedelta(hours=2))))
    assert order_figures(state).open_items == {}


def test_steps_are_timed_once_when_both_ends_are_known() -> None:
    events = lifecycle()
    state = OrderState()
    seen = []
    for event in events:
        after = merge(state, *event)
        seen += completed_steps(state, after)
        state = after
    assert dict(seen) == {
        "placed_to_verified": 30 * 3600.0,
        "verified_to_dispatched": 80 * 60.0,
        "placed_to_dispatched": (31 * 60 + 20) * 60.0,
        "dispatched_to_delivered": (72 * 60 - 31 * 60 - 20) * 60.0,
    }


def test_order_states_survive_their_json_form() -> None:
    state, _ = fold(lifecycle())
    assert OrderState.from_json(state.to_json()) == state
    assert OrderState.from_json({}) == OrderState()


def test_stock_received_and_accounts_count_nationally() -> None:
    received = reduce(StockReceived(item="badge", quantity=5000), T0)
    assert received is not None and received.order_id is None
    assert event_figures(received.event_type, received.fact).counts == {
        (T0.date(), "stock_received", None): 5000
    }


def test_a_dispatch_that_reserved_in_the_same_step_counts_the_reservation_too() -> None:
    """Dispatch reserves and hands over an order verified before its placement was decided
    in one step, with no StockReserved (ADR 0054, "Eighth step"): the dispatch's fact carries
    the reservation, so the stock held (reserved less allocated) is the same as when a
    StockReserved came first, and an ordinary dispatch still counts none."""
    order_id = uuid.uuid4()

    def stock(*events: object) -> dict[str, int]:
        total = Figures()
        for event in events:
            kept = reduce(event, T0)  # type: ignore[arg-type]
            assert kept is not None
            total.add(event_figures(kept.event_type, kept.fact))
        return {metric: n for (_, metric, _), n in total.counts.items()}

    def dispatched(reserved: int = 0) -> OrderDispatched:
        return OrderDispatched(
            order_id=order_id,
            shipment_reference="SH-1",
            parcel_count=1,
            quantity=7,
            reserved_with_dispatch=reserved,
        )

    in_two = stock(StockReserved(order_id=order_id, quantity=7), dispatched())
    in_one = stock(dispatched(reserved=7))
    assert in_one == in_two == {"stock_reserved": 7, "stock_allocated": 7}
    kept = reduce(dispatched(reserved=7), T0)
    assert kept is not None and set(kept.fact) <= FACT_KEYS
    plain = reduce(dispatched(), T0)
    assert plain is not None and "reserved_with_dispatch" not in plain.fact


def _pair(kept: object) -> tuple[str, dict[str, object]]:
    assert kept is not None
    return kept.event_type, kept.fact  # type: ignore[attr-defined]


# --- what may be shown ----------------------------------------------------------------------


def test_counts_under_the_threshold_are_suppressed_but_zero_and_larger_are_shown() -> None:
    assert [suppress(v, 5) for v in (0, 1, 4, 5, 900)] == [0, SUPPRESSED, SUPPRESSED, 5, 900]


def test_badges_and_parcels_are_hidden_with_the_order_count_they_belong_to() -> None:
    row = {
        "orders_dispatched": 2,
        "badges_dispatched": 400,
        "parcels_dispatched": 3,
        "orders_placed": 9,
        "badges_placed": 800,
        "stock_received": 3,
    }
    assert suppress_row(row, 5) == {
        "orders_dispatched": SUPPRESSED,
        "badges_dispatched": SUPPRESSED,
        "parcels_dispatched": SUPPRESSED,
        "orders_placed": 9,
        "badges_placed": 800,
        "stock_received": 3,
    }


def test_one_hidden_cell_in_a_breakdown_hides_the_next_smallest_too() -> None:
    table = {
        "London": {"orders_placed": 50, "badges_placed": 900},
        "North East": {"orders_placed": 3, "badges_placed": 60},
        "South West": {"orders_placed": 7, "badges_placed": 140},
        "Not known": {"orders_placed": 0, "badges_placed": 0},
    }
    shown = suppress_table(table, 5)
    assert shown["North East"] == {"orders_placed": SUPPRESSED, "badges_placed": SUPPRESSED}
    assert shown["South West"] == {"orders_placed": SUPPRESSED, "badges_placed": SUPPRESSED}
    assert shown["London"] == {"orders_placed": 50, "badges_placed": 900}
    assert shown["Not known"] == {"orders_placed": 0, "badges_placed": 0}


def test_random_breakdowns_never_leave_a_lone_hidden_cell() -> None:
    rng = random.Random(7)
    for _ in range(200):
        table = {f"c{i}": {"orders_placed": rng.choice([0, 1, 3, 6, 20])} for i in range(6)}
        shown = suppress_table(table, 5)
        hidden = [c for c, row in shown.items() if row["orders_placed"] == SUPPRESSED]
        nonzero = [c for c, row in table.items() if row["orders_placed"] > 0]
        assert len(hidden) != 1 or len(nonzero) == 1
