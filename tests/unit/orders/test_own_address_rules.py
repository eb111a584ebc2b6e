"""Orders from accounts not on CQC's register: one order per organisation, a local authority's
top-up once its earlier order has been sent, the shape of the request, and the number asked."""

from __future__ import annotations

import pytest

from services.orders.domain import emails
from services.orders.domain.answers import badges_needed
from services.orders.domain.order import OrderRefused, Status
from services.orders.domain.own_address import (
    EarlierOrder,
    EarlierOrderWaiting,
    badges_sent,
    check_order_shape,
    is_top_up,
    one_order_only,
    orders_to_own_address,
)
from shared.events import AccountKind
from shared.usecases import Invalid


def earlier(*statuses: Status, quantity: int = 10) -> list[EarlierOrder]:
    return [EarlierOrder(f"CB-0000-000{i}", s, quantity) for i, s in enumerate(statuses)]


def test_which_accounts_order_to_their_own_address_and_which_only_once() -> None:
    assert not orders_to_own_address(AccountKind.CQC)
    for kind in (AccountKind.NON_CQC, AccountKind.PERSONAL_ASSISTANT, AccountKind.LOCAL_AUTHORITY):
        assert orders_to_own_address(kind)
    assert one_order_only(AccountKind.NON_CQC) and one_order_only(AccountKind.PERSONAL_ASSISTANT)
    assert not one_order_only(AccountKind.LOCAL_AUTHORITY)
    assert not one_order_only(AccountKind.CQC)  # its locations are claimed instead


def test_a_local_authoritys_first_order_is_not_a_top_up() -> None:
    assert is_top_up(AccountKind.LOCAL_AUTHORITY, []) is False


@pytest.mark.parametrize("sent", [Status.DISPATCHED, Status.DELIVERED])
def test_a_local_authority_tops_up_once_badges_have_been_sent(sent: Status) -> None:
    assert is_top_up(AccountKind.LOCAL_AUTHORITY, earlier(sent)) is True


@pytest.mark.parametrize(
    "still_waiting", [Status.PLACED, Status.WAITLISTED, Status.IN_REVIEW, Status.VERIFIED]
)
def test_a_top_up_waits_until_the_earlier_order_has_been_sent(still_waiting: Status) -> None:
    orders = earlier(Status.DELIVERED, still_waiting)
    with pytest.raises(EarlierOrderWaiting) as waiting:
        is_top_up(AccountKind.LOCAL_AUTHORITY, orders)
    assert waiting.value.reference == orders[1].reference


def test_orders_that_sent_nothing_leave_the_next_one_a_first_order() -> None:
    assert (
        is_top_up(AccountKind.LOCAL_AUTHORITY, earlier(Status.CANCELLED, Status.REJECTED)) is False
    )


def test_only_a_local_authority_tops_up() -> None:
    assert is_top_up(AccountKind.NON_CQC, earlier(Status.DELIVERED)) is False
    assert is_top_up(AccountKind.CQC, earlier(Status.PLACED)) is False


def test_badges_sent_counts_only_orders_with_the_courier_or_delivered() -> None:
    orders = [
        EarlierOrder("a", Status.DELIVERED, 30),
        EarlierOrder("b", Status.DISPATCHED, 5),
        EarlierOrder("c", Status.CANCELLED, 100),
        EarlierOrder("d", Status.REJECTED, 7),
    ]
    assert badges_sent(orders) == 35


@pytest.mark.parametrize(
    ("kind", "request_", "field"),
    [
        (AccountKind.NON_CQC, {"lines_given": True}, "lines"),
        (AccountKind.NON_CQC, {"deliver_to_given": True}, "deliver_to_location_id"),
        (AccountKind.LOCAL_AUTHORITY, {}, "staff_count"),
        (AccountKind.CQC, {"staff_count": 4}, "staff_count"),
        (AccountKind.CQC, {"deliver_to_given": True}, "lines"),
        (AccountKind.CQC, {"lines_given": True}, "deliver_to_location_id"),
    ],
)
def test_the_request_must_fit_the_kind_of_account(
    kind: AccountKind, request_: dict[str, object], field: str
) -> None:
    shape: dict[str, object] = {
        "lines_given": False,
        "deliver_to_given": False,
        "staff_count": None,
    } | request_
    with pytest.raises(OrderRefused) as refused:
        check_order_shape(kind, **shape)  # type: ignore[arg-type]
    assert refused.value.field == field and isinstance(refused.value, Invalid)  # the API's 422


def test_requests_that_fit_are_accepted() -> None:
    check_order_shape(
        AccountKind.PERSONAL_ASSISTANT, lines_given=False, deliver_to_given=False, staff_count=1
    )
    check_order_shape(AccountKind.CQC, lines_given=True, deliver_to_given=True, staff_count=None)


@pytest.mark.parametrize(
    ("typed", "top_up", "value", "error"),
    [
        ("12", False, 12, None),
        ("", False, None, "Enter how many members of staff you employ"),
        ("", True, None, "Enter how many more badges you need"),
        ("lots", True, None, "Number of badges must be a whole number, like 12"),
        ("0", True, None, "Number of badges must be 1 or more"),
        ("0", False, None, "Number of staff must be 1 or more"),
        ("10001", True, None, "Number of badges must be 10,000 or fewer. To order more than"),
    ],
)
def test_the_number_asked_of_an_account_without_locations(
    typed: str, top_up: bool, value: int | None, error: str | None
) -> None:
    answer = badges_needed(typed, top_up)
    assert answer.value == value
    assert (answer.error or "").startswith(error or "")
    assert (answer.error is None) == (error is None)


def test_the_confirmation_email_says_top_up_and_that_a_person_checks() -> None:
    message = emails.order_placed("a@example.org", "CB-1234-5678", 5, True, top_up=True)
    assert "top-up order for 5 CARE badges" in message.body
    assert "A member of our team will check your order" in message.body
    assert "top-up" not in emails.order_placed("a@example.org", "CB-1", 5, True).body
