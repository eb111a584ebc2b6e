"""Identity's refusals as problem documents.

The shared translation answers each kind of refusal with its status; identity answers three
of its own kinds differently: details not recognised or a session ended are 401 (who is
asking is not established), too many attempts is 429 with Retry-After, and an emailed link
that has expired or was used is 400.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from services.identity.usecases.refusals import LinkNotValid, NotSignedIn, TooManyAttempts
from shared.http.problems import Problem, problem_from, problem_response
from shared.usecases import Refused

_STATUS: dict[type[Refused], int] = {NotSignedIn: 401, TooManyAttempts: 429, LinkNotValid: 400}


def problem_of(refusal: Refused) -> Problem:
    """The problem document that answers ``refusal``."""
    problem = problem_from(refusal)
    problem.status = next(
        (status for kind, status in _STATUS.items() if isinstance(refusal, kind)),
        problem.status,
    )
    return problem


def install(app: FastAPI) -> None:
    """Answer identity's own kinds of refusal wherever a route lets one through."""

    async def answer(request: Request, exc: Refused) -> Response:
        problem = problem_of(exc)
        return problem_response(
            problem.status,
            problem.slug,
            problem.title,
            problem.detail,
            request.url.path,
            headers=problem.headers,
            **problem.extra,
        )

    for kind in _STATUS:
        app.exception_handler(kind)(answer)
