"""The automatic checks: verify, refer with reasons, or wait; never reject."""

import ast
from pathlib import Path

import pytest

from services.verification.domain.checks import (
    Check,
    History,
    LineFacts,
    LocationFacts,
    OrderFacts,
    OtherAccountOrder,
    Outcome,
    Policy,
    awaits_locations,
    evaluate,
)
from services.verification.domain.organisations import similar
from services.verification.domain.postcodes import border_reason

POLICY = Policy(max_badges_per_bed=2.5, manual_check_threshold=25)
HOME = LocationFacts("L1", "P1", care_home=True, care_home_beds=40, name="Oak House")
AGENCY = LocationFacts("L2", "P1", care_home=False, care_home_beds=None)
NONE = History()


def order(
    *lines: tuple[str | None, int],
    kind: str = "cqc",
    postcode: str = "LS1 4AP",
    name: str = "Oak House Care Ltd",
) -> OrderFacts:
    return OrderFacts(
        kind, sum(n for _, n in lines), [LineFacts(loc, n) for loc, n in lines], postcode, name
    )


def test_a_plausible_cqc_order_for_authorised_locations_is_verified() -> None:
    decision = evaluate(order(("L1", 60), ("L2", 200)), {"L1": HOME, "L2": AGENCY}, NONE, POLICY)
    assert decision.outcome is Outcome.VERIFIED and decision.reasons == []
    assert {c.check for c in decision.checks} == {
        Check.POSTCODE,
        Check.LOCATIONS_AUTHORISED,
        Check.BED_COUNT,
        Check.LOCATION_SIZE,
        Check.EARLIER_ORDER,
        Check.SAME_ORGANISATION,
    }
    assert all(c.passed and c.detail for c in decision.checks)


def test_far_more_badges_than_beds_suggest_is_referred_with_the_reason() -> None:
    decision = evaluate(order(("L1", 101)), {"L1": HOME}, NONE, POLICY)
    assert decision.outcome is Outcome.REFERRED
    assert "40 beds" in decision.reasons[0] and "101" in decision.reasons[0]
    assert decision.reason_codes == ["bed_count"]


def test_up_to_the_bed_threshold_is_plausible() -> None:
    assert evaluate(order(("L1", 100)), {"L1": HOME}, NONE, POLICY).outcome is Outcome.VERIFIED


def test_an_earlier_order_for_the_location_is_referred() -> None:
    decision = evaluate(order(("L1", 10)), {"L1": HOME}, History({"L1"}), POLICY)
    assert decision.outcome is Outcome.REFERRED
    assert "earlier order" in decision.reasons[0]
    assert decision.reason_codes == ["earlier_order"]


def test_locations_not_yet_known_wait_rather_than_refer() -> None:
    assert evaluate(order(("L1", 10)), None, NONE, POLICY).outcome is Outcome.WAIT
    assert evaluate(order(("L1", 1), ("L9", 1)), {"L1": HOME}, NONE, POLICY).outcome is Outcome.WAIT


@pytest.mark.parametrize(
    ("facts", "authorised"),
    [
        (order(("L1", 10)), None),
        (order(("L1", 10)), {}),
        (order(("L1", 1), ("L9", 1)), {"L1": HOME}),
        (order((None, 5)), {"L1": HOME}),
        (order(("L1", 10), ("L2", 10)), {"L1": HOME, "L2": AGENCY}),
        (order(("L1", 500)), {"L1": HOME}),
        (order((None, 30), kind="non_cqc"), None),
        (order(("L1", 10), kind="non_cqc"), {"L1": HOME}),
    ],
)
def test_an_order_awaits_its_locations_exactly_when_evaluate_would_wait(
    facts: OrderFacts, authorised: dict[str, LocationFacts] | None
) -> None:
    """The checker reads no history for an order that waits: the two must agree, whatever
    the history, or an order could be left waiting or decided without its history."""
    earlier = History({"L1"}, [OtherAccountOrder("CB-1", frozenset({"P1"}), "LS14AP", frozenset())])
    for history in (NONE, earlier):
        waits = evaluate(facts, authorised, history, POLICY).outcome is Outcome.WAIT
        assert awaits_locations(facts, authorised) is waits


def test_non_cqc_orders_always_go_to_a_person_and_large_ones_get_the_address_check() -> None:
    small = evaluate(order((None, 25), kind="non_cqc"), None, NONE, POLICY)
    large = evaluate(order((None, 26), kind="non_cqc"), None, NONE, POLICY)
    assert small.outcome is large.outcome is Outcome.REFERRED
    assert small.reason_codes == ["not_cqc"]
    assert large.reason_codes == ["not_cqc", "address_and_phone"]
    assert any("address and phone" in r for r in large.reasons)


@pytest.mark.parametrize(
    ("postcode", "expected"),
    [
        ("LS1 4AP", None),
        ("sw1a 1aa", None),
        ("TD15 1AA", "straddles"),
        ("SY21 7AA", "straddles"),
        ("CF10 1AA", "outside England"),
        ("EH1 1AA", "outside England"),
        ("LL11 2AA", "straddles"),
        ("LL30 1AA", "outside England"),
        ("DG16 5AA", "straddles"),
        ("DG1 1AA", "outside England"),
        ("NP16 5AA", "straddles"),
        ("NP20 1AA", "outside England"),
        ("TD1 1AA", "outside England"),
        ("SY16 1AA", "outside England"),
        ("SY1 1AA", None),
        ("CH2 1AA", None),
        ("CH5 1AA", "outside England"),
        ("nonsense", "not a valid"),
    ],
)
def test_border_and_outside_england_postcodes(postcode: str, expected: str | None) -> None:
    reason = border_reason(postcode)
    assert (reason is None) if expected is None else (expected in (reason or ""))


def test_a_border_postcode_refers_even_a_perfect_cqc_order() -> None:
    decision = evaluate(order(("L1", 10), postcode="HR2 6AA"), {"L1": HOME}, NONE, POLICY)
    assert decision.outcome is Outcome.REFERRED
    assert decision.reason_codes == ["border_postcode"]


def test_a_postcode_outside_england_is_referred_never_refused() -> None:
    decision = evaluate(order(("L1", 10), postcode="CF10 1AA"), {"L1": HOME}, NONE, POLICY)
    assert decision.outcome is Outcome.REFERRED
    assert decision.reason_codes == ["outside_england"]


def other(
    provider: str = "P9", postcode: str = "LS14AP", names: tuple[str, ...] = ("Elm Lodge",)
) -> OtherAccountOrder:
    return OtherAccountOrder("CB-OTHER", frozenset({provider}), postcode, frozenset(names))


def test_the_same_provider_through_another_account_is_referred() -> None:
    history = History(other_accounts=[other(provider="P1", postcode="SW1A1AA")])
    decision = evaluate(order(("L1", 10)), {"L1": HOME}, history, POLICY)
    assert decision.outcome is Outcome.REFERRED
    assert decision.reason_codes == ["same_organisation"]
    assert "P1" in decision.reasons[0] and "CB-OTHER" in decision.reasons[0]


def test_a_similar_name_at_the_same_postcode_through_another_account_is_referred() -> None:
    history = History(other_accounts=[other(names=("The Oak House Care Limited",))])
    decision = evaluate(order(("L1", 10)), {"L1": HOME}, history, POLICY)
    assert decision.reason_codes == ["same_organisation"]
    assert "similar name" in decision.reasons[0]


def test_a_different_name_or_postcode_is_another_organisation() -> None:
    elsewhere = History(other_accounts=[other(postcode="M11AA", names=("Oak House",))])
    unlike = History(other_accounts=[other(names=("Elm Lodge",))])
    for history in (elsewhere, unlike):
        decision = evaluate(order(("L1", 10)), {"L1": HOME}, history, POLICY)
        assert decision.outcome is Outcome.VERIFIED


def test_non_cqc_orders_are_also_matched_against_other_accounts() -> None:
    history = History(other_accounts=[other(names=("Kind Care Ltd",))])
    decision = evaluate(order((None, 5), kind="non_cqc", name="Kind Care"), None, history, POLICY)
    assert decision.reason_codes == ["not_cqc", "same_organisation"]


@pytest.mark.parametrize(
    ("a", "b", "alike"),
    [
        ("St. Anne's Care Home Ltd", "St Annes Care Home", True),
        ("Oak House Care", "Oak Huose Care", True),
        ("Oak House", "Elm House", False),
        ("", "", False),
    ],
)
def test_similar_names(a: str, b: str, alike: bool) -> None:
    assert similar(a, b, POLICY.similar_name_ratio) is alike


def test_automation_has_no_way_to_reject() -> None:
    assert {o.value for o in Outcome} == {"verified", "referred", "wait"}
    root = Path(__file__).resolve().parents[3] / "services"
    emitting = [
        (path.relative_to(root).as_posix(), function.name)
        for path in root.rglob("*.py")
        for function in ast.walk(ast.parse(path.read_text()))
        if isinstance(function, ast.AsyncFunctionDef | ast.FunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "OrderRejected"
    ]
    # Only the reviewers' reject action names OrderRejected, and it takes the named reviewer
    # whose id the event carries; its callers need a customer-services token.
    assert emitting == [("verification/usecases/reviews.py", "reject")]
    reject = next(
        f
        for f in ast.walk(ast.parse((root / "verification/usecases/reviews.py").read_text()))
        if isinstance(f, ast.AsyncFunctionDef) and f.name == "reject"
    )
    assert "reviewer" in [a.arg for a in reject.args.args]
    assert "reviewer_id=reviewer.account_id" in ast.unparse(reject)
    handlers = (root / "verification" / "handlers").rglob("*.py")
    assert not any("OrderRejected" in path.read_text() for path in handlers)


COMMUNITY = LocationFacts(
    "L3", "P1", False, None, inspection_category="Community based adult social care services"
)


def test_a_location_without_beds_is_referred_above_the_ceiling_for_its_kind() -> None:
    decision = evaluate(order(("L3", 5_000)), {"L3": COMMUNITY}, NONE, POLICY)
    assert decision.outcome is Outcome.REFERRED
    assert decision.reason_codes == ["location_size"]
    assert "5,000" in decision.reasons[0] and "300" in decision.reasons[0]
    assert "Community based adult social care services" in decision.reasons[0]
    assert evaluate(order(("L3", 300)), {"L3": COMMUNITY}, NONE, POLICY).outcome is (
        Outcome.VERIFIED
    )


def test_a_category_can_have_its_own_ceiling() -> None:
    policy = Policy(
        max_badges_per_bed=2.5,
        manual_check_threshold=25,
        max_badges_by_category={"Community based adult social care services": 120},
    )
    assert evaluate(order(("L3", 121)), {"L3": COMMUNITY}, NONE, policy).reason_codes == [
        "location_size"
    ]
    assert evaluate(order(("L2", 121)), {"L2": AGENCY}, NONE, policy).outcome is Outcome.VERIFIED
