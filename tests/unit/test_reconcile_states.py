"""What the launch-day reconciliation counts as a final state (tests/support/reconcile.py)."""

import pytest

from tests.support.reconcile import FINAL_STATES, classify


@pytest.mark.parametrize(
    ("stock", "shipped", "decision", "state"),
    [
        ("allocated", True, "verified", "handed_off"),
        ("waitlisted", False, "verified", "waitlisted"),
        ("waitlisted", False, "referred", "waitlisted"),
        ("reserved", False, "referred", "in_review"),
    ],
)
def test_resting_orders_are_final(stock: str, shipped: bool, decision: str, state: str) -> None:
    assert classify(stock, shipped, decision) == state
    assert state in FINAL_STATES


@pytest.mark.parametrize(
    ("stock", "shipped", "decision"),
    [
        ("reserved", False, "verified"),  # verified with stock: must still be handed off
        ("allocated", False, "verified"),  # allocated without a shipment
        ("pending", False, "unknown"),  # dispatch has not decided the placement
        ("unknown", False, "referred"),  # dispatch never heard of it
        ("reserved", False, "awaiting_authorisation"),
    ],
)
def test_orders_still_moving_are_not(stock: str, shipped: bool, decision: str) -> None:
    assert classify(stock, shipped, decision).startswith("unfinished")
