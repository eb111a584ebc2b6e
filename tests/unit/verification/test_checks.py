"""The automatic checks: verify, refer with reasons, or wait; never reject."""

import ast
from pathlib import Path

import pytest

from services.verification.domain.checks import (
    LineFacts,
    LocationFacts,
    OrderFacts,
    Outcome,
    Policy,
    border_reason,
    evaluate,
)

POLICY = Policy(max_badges_per_bed=2.5, manual_check_threshold=25)
HOME = LocationFacts("L1", "P1", care_home=True, care_home_beds=40)
AGENCY = LocationFacts("L2", "P1", care_home=False, care_home_beds=None)


def order(*lines: tuple[str, int], kind: str = "cqc", postcode: str = "LS1 4AP") -> OrderFacts:
    return OrderFacts(
        kind, sum(n for _, n in lines), [LineFacts(loc, n) for loc, n in lines], postcode
    )


def test_a_plausible_cqc_order_for_authorised_locations_is_verified() -> None:
    decision = evaluate(order(("L1", 60), ("L2", 200)), {"L1": HOME, "L2": AGENCY}, set(), POLICY)
    assert decision.outcome is Outcome.VERIFIED and decision.reasons == []


def test_far_more_badges_than_beds_suggest_is_referred_with_the_reason() -> None:
    decision = evaluate(order(("L1", 101)), {"L1": HOME}, set(), POLICY)
    assert decision.outcome is Outcome.REFERRED
    assert "40 beds" in decision.reasons[0] and "101" in decision.reasons[0]


def test_an_earlier_order_for_the_location_is_referred() -> None:
    decision = evaluate(order(("L1", 10)), {"L1": HOME}, {"L1"}, POLICY)
    assert decision.outcome is Outcome.REFERRED
    assert "earlier order" in decision.reasons[0]


def test_locations_not_yet_known_wait_rather_than_refer() -> None:
    assert evaluate(order(("L1", 10)), None, set(), POLICY).outcome is Outcome.WAIT
    assert (
        evaluate(order(("L1", 1), ("L9", 1)), {"L1": HOME}, set(), POLICY).outcome is Outcome.WAIT
    )


def test_non_cqc_orders_always_go_to_a_person_and_large_ones_get_the_address_check() -> None:
    small = evaluate(order((None, 10), kind="non_cqc"), None, set(), POLICY)  # type: ignore[arg-type]
    large = evaluate(order((None, 26), kind="non_cqc"), None, set(), POLICY)  # type: ignore[arg-type]
    assert small.outcome is large.outcome is Outcome.REFERRED
    assert len(small.reasons) == 1
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
    decision = evaluate(order(("L1", 10), postcode="HR2 6AA"), {"L1": HOME}, set(), POLICY)
    assert decision.outcome is Outcome.REFERRED


def test_automation_has_no_way_to_reject() -> None:
    assert {o.value for o in Outcome} == {"verified", "referred", "wait"}
    root = Path(__file__).resolve().parents[3] / "services" / "verification"
    emitting = [
        path.relative_to(root).as_posix()
        for path in root.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "OrderRejected"
    ]
    # Only the reviewers' API, which requires a customer-services token, names OrderRejected.
    assert emitting == ["api/reviews.py"]
