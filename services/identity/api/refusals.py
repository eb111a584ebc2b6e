"""Identity's refusals as problem documents.

The shared translation answers each kind of refusal with its status; identity answers three
of its own kinds differently: details not recognised or a session ended are 401 (who is
asking is not established), too many attempts is 429 with Retry-After, and an emailed link
that has expired or was used is 400.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.identity.usecases.refusals import LinkNotValid, NotSignedIn, TooManyAttempts
from shared.http.problems import Problem, answer_refusals, problem_from
from shared.usecases import Refused

STATUSES: dict[type[Refused], int] = {NotSignedIn: 401, TooManyAttempts: 429, LinkNotValid: 400}


def problem_of(refusal: Refused) -> Problem:
    """The problem document that answers ``refusal``."""
    return problem_from(refusal, STATUSES)


def install(app: FastAPI) -> None:
    """Answer identity's own kinds of refusal wherever a route lets one through."""
    answer_refusals(app, STATUSES)
