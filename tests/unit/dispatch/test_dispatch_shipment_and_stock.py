"""Shipment references and statuses; the balance the ledger implies."""

import re

import pytest

from services.dispatch.domain.shipment import ShipmentStatus, new_reference, next_status
from services.dispatch.domain.stock import Balance, LedgerKind, balance_from_ledger

S = ShipmentStatus


def test_reference_shape() -> None:
    references = {new_reference() for _ in range(200)}
    assert all(re.fullmatch(r"SH-[0-9A-HJKMNP-TV-Z]{8}", r) for r in references)
    assert len(references) == 200


@pytest.mark.parametrize(
    ("current", "reported", "after"),
    [
        (S.HANDED_OVER, S.DELIVERED, S.DELIVERED),
        (S.HANDED_OVER, S.FAILED_ATTEMPT, S.FAILED_ATTEMPT),
        (S.FAILED_ATTEMPT, S.DELIVERED, S.DELIVERED),
        (S.FAILED_ATTEMPT, S.RETURNED, S.RETURNED),
        # Final states stay final: a late or repeated report changes nothing.
        (S.DELIVERED, S.FAILED_ATTEMPT, S.DELIVERED),
        (S.DELIVERED, S.DELIVERED, S.DELIVERED),
        (S.RETURNED, S.DELIVERED, S.RETURNED),
    ],
)
def test_courier_reports_move_the_status_forward_only(
    current: ShipmentStatus, reported: ShipmentStatus, after: ShipmentStatus
) -> None:
    assert next_status(current, reported) is after


def test_the_courier_cannot_report_handed_over() -> None:
    with pytest.raises(ValueError):
        next_status(S.FAILED_ATTEMPT, S.HANDED_OVER)


def test_balance_from_ledger() -> None:
    totals = {
        LedgerKind.RECEIPT: 1000,
        LedgerKind.ADJUSTMENT: -10,
        LedgerKind.RESERVATION: 700,
        LedgerKind.RELEASE: 100,
        LedgerKind.ALLOCATION: 400,
    }
    balance = balance_from_ledger(totals)
    assert balance == Balance(received=990, reserved=200, allocated=400)
    assert balance.available == 390


def test_empty_ledger_is_an_empty_balance() -> None:
    assert balance_from_ledger({}) == Balance()
