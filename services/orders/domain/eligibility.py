"""Who may use the service: people paid to work in adult social care in England.

Being an unpaid carer, or working outside England, is an answer that leads to a "you cannot
use this service" page with where to go instead; it is never a validation error.
"""

from __future__ import annotations

from enum import StrEnum


class Who(StrEnum):
    """Who the badges are for (the first eligibility question)."""

    EMPLOYER = "employer"
    SELF_EMPLOYED = "self_employed"
    UNPAID_CARER = "unpaid_carer"


class Where(StrEnum):
    ENGLAND = "england"
    ELSEWHERE = "elsewhere"


class Registered(StrEnum):
    CQC = "cqc"
    NOT_CQC = "not_cqc"


class Ineligible(StrEnum):
    """Why someone cannot use the service; each has its own advice on where to go instead."""

    UNPAID_CARER = "unpaid-carer"
    OUTSIDE_ENGLAND = "outside-england"


def refusal(who: Who | None, where: Where | None) -> Ineligible | None:
    """The reason these answers rule the person out, or None while they may go on."""
    if who is Who.UNPAID_CARER:
        return Ineligible.UNPAID_CARER
    if where is Where.ELSEWHERE:
        return Ineligible.OUTSIDE_ENGLAND
    return None
