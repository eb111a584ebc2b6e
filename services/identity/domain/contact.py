"""Checking and tidying the contact details a self-registering organisation gives.

Messages say what to fix, in the GOV.UK Design System's error-message wording.
"""

from __future__ import annotations

import re

from email_validator import EmailNotValidError, validate_email

from services.identity.domain.register import fold_email, tidy_postcode

# Royal Mail's format: outward code (area, district) and inward code (sector, unit).
_UK_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$")
_PHONE_CHARACTERS = re.compile(r"^[0-9 +()\-]+$")


def checked_email(value: str) -> str:
    """The email folded as accounts key it, or ValueError saying what is wrong with it."""
    folded = fold_email(value)
    if not folded:
        raise ValueError("Enter an email address")
    try:
        validate_email(folded, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(
            "Enter an email address in the correct format, like name@example.com"
        ) from exc
    return folded


def checked_postcode(value: str) -> str:
    tidy = tidy_postcode(value)
    if not tidy:
        raise ValueError("Enter a postcode")
    if not _UK_POSTCODE.match(tidy):
        raise ValueError("Enter a real postcode, like SW1A 2AA")
    return tidy


def checked_phone(value: str) -> str:
    """A UK phone number, kept as typed but with spaces tidied; international +44 allowed."""
    tidy = " ".join(value.split())
    if not tidy:
        raise ValueError("Enter a phone number")
    digits = re.sub(r"\D", "", tidy)
    if not _PHONE_CHARACTERS.match(tidy) or not (
        (digits.startswith("0") and len(digits) in (10, 11))
        or (digits.startswith("44") and len(digits) in (11, 12))
    ):
        raise ValueError("Enter a telephone number, like 01632 960 001 or 07700 900 982")
    return tidy
