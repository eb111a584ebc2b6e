"""Checking what a person typed into the order pages, with GOV.UK's error wording.

Each check returns the cleaned value or the sentence that tells the user what to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

#: The most badges one line may ask for online. Larger numbers are real for a few providers:
#: customer services take those orders by phone, and a person checks them (ADR 0062).
MAX_STAFF = 10_000
MAX_NAME = 100
CUSTOMER_SERVICES_PHONE = "0161 495 4879"
#: What to do about more than MAX_STAFF: said the same way on the pages and in the API.
OVER_THE_ONLINE_LIMIT = (
    f"To order more than {MAX_STAFF:,} badges, call customer services on "
    f"{CUSTOMER_SERVICES_PHONE} (Monday to Friday, 8:30am to 5pm): they take the order and a "
    "member of our team checks it"
)


@dataclass(frozen=True)
class Answer(Generic[T]):
    value: T | None = None
    error: str | None = None


def staff_count(text: str, where: str) -> Answer[int]:
    """Members of staff employed now at ``where``: a whole number from 1 to 10,000."""
    return _count(
        text,
        f"Enter how many members of staff you employ at {where}",
        f"Number of staff at {where}",
    )


def badges_needed(text: str, top_up: bool) -> Answer[int]:
    """An order with no CQC location: the staff employed now, or for a local authority's
    top-up the badges needed on top of those already sent."""
    if top_up:
        return _count(text, "Enter how many more badges you need", "Number of badges")
    return _count(text, "Enter how many members of staff you employ", "Number of staff")


def _count(text: str, missing: str, what: str) -> Answer[int]:
    cleaned = text.strip().replace(",", "")
    if not cleaned:
        return Answer(error=missing)
    if not cleaned.isascii() or not cleaned.lstrip("-").isdigit():
        return Answer(error=f"{what} must be a whole number, like 12")
    number = int(cleaned)
    if number < 1:
        return Answer(error=f"{what} must be 1 or more")
    if number > MAX_STAFF:
        return Answer(error=f"{what} must be {MAX_STAFF:,} or fewer. {OVER_THE_ONLINE_LIMIT}")
    return Answer(number)


def contact_name(text: str) -> Answer[str]:
    """Who the parcel is addressed to."""
    cleaned = " ".join(text.split())
    if not cleaned:
        return Answer(error="Enter the name of the person who will receive the badges")
    if len(cleaned) > MAX_NAME:
        return Answer(error=f"Name must be {MAX_NAME} characters or fewer")
    return Answer(cleaned)


def sign_in_problems(email: str, password: str) -> dict[str, str]:
    """What is missing from the sign-in form (identity judges whether it is right)."""
    problems = {}
    if not email.strip():
        problems["email"] = "Enter your email address"
    elif "@" not in email:
        problems["email"] = "Enter an email address in the correct format, like name@example.com"
    if not password.strip():
        problems["password"] = "Enter your password, ODS code or postcode"  # noqa: S105
    return problems
