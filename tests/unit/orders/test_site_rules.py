"""The site's pure rules: eligibility, what a person typed, and the order emails."""

from __future__ import annotations

import pytest

from services.orders.domain import emails
from services.orders.domain.answers import contact_name, sign_in_problems, staff_count
from services.orders.domain.eligibility import Ineligible, Where, Who, refusal
from services.orders.domain.poster import WORKFORCE_APP, poster_pdf


def test_unpaid_carers_and_work_outside_england_are_answers_not_errors() -> None:
    assert refusal(Who.UNPAID_CARER, None) is Ineligible.UNPAID_CARER
    assert refusal(Who.EMPLOYER, Where.ELSEWHERE) is Ineligible.OUTSIDE_ENGLAND
    assert refusal(Who.SELF_EMPLOYED, Where.ENGLAND) is None
    assert refusal(Who.EMPLOYER, None) is None


@pytest.mark.parametrize(
    ("typed", "value", "error"),
    [
        ("12", 12, None),
        (" 1,200 ", 1200, None),
        ("", None, "Enter how many members of staff you employ at Oak House"),
        ("twelve", None, "Number of staff at Oak House must be a whole number, like 12"),
        ("2.5", None, "Number of staff at Oak House must be a whole number, like 12"),
        ("0", None, "Number of staff at Oak House must be 1 or more"),
        ("-4", None, "Number of staff at Oak House must be 1 or more"),
        ("١٢", None, "Number of staff at Oak House must be a whole number, like 12"),
    ],
)
def test_staff_numbers_are_whole_numbers_of_one_or_more(
    typed: str, value: int | None, error: str | None
) -> None:
    answer = staff_count(typed, "Oak House")
    assert (answer.value, answer.error) == (value, error)


def test_more_staff_than_any_location_employs_is_refused_with_what_to_do() -> None:
    answer = staff_count("10001", "Oak House")
    assert answer.value is None and "customer services" in (answer.error or "")


def test_the_parcels_addressee_is_required_and_tidied() -> None:
    assert contact_name("  Sam   Carer ").value == "Sam Carer"
    assert contact_name("   ").error == "Enter the name of the person who will receive the badges"
    assert contact_name("x" * 101).error == "Name must be 100 characters or fewer"


def test_sign_in_says_which_fields_are_missing() -> None:
    assert sign_in_problems("", "") == {
        "email": "Enter your email address",
        "password": "Enter your password, ODS code or postcode",
    }
    assert "correct format" in sign_in_problems("not-an-email", "x")["email"]
    assert sign_in_problems("a@b.example", "ABC") == {}


def test_the_dispatch_email_carries_the_poster_with_the_workforce_app_link() -> None:
    message = emails.order_dispatched("a@b.example", "CB-AAAA-BBBB", "SHP-1")
    assert "CB-AAAA-BBBB" in message.subject and WORKFORCE_APP in message.body
    (poster,) = message.attachments
    assert poster.content_type == "application/pdf" and poster.data.startswith(b"%PDF-")
    assert f"/URI ({WORKFORCE_APP})".encode() in poster.data


def test_the_poster_holds_no_personal_data_and_is_the_same_for_everyone() -> None:
    first, second = poster_pdf(), poster_pdf()
    assert b"CB-" not in first
    assert first.startswith(b"%PDF")
    assert first is second  # built once per process, not once per dispatched order


def test_the_placed_email_says_whether_a_person_checks_the_order() -> None:
    reviewed = emails.order_placed("a@b.example", "CB-AAAA-BBBB", 30, reviewed=True)
    automatic = emails.order_placed("a@b.example", "CB-AAAA-BBBB", 1, reviewed=False)
    assert "member of our team will check" in reviewed.body and "30 CARE badges" in reviewed.body
    assert "Care Quality Commission" in automatic.body and "1 CARE badge." in automatic.body
