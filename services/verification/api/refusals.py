"""The API's answers to the use cases' refusals, worded as the back office's API always has.

A refusal of one field reads like a validation error ("reason is required ..."), with the
field in ``errors``; any other is the problem its kind stands for.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from shared.http.problems import INVALID_TITLE, Problem, problem_from
from shared.usecases import Invalid, Refused


def problem(refusal: Refused) -> Problem:
    if isinstance(refusal, Invalid) and refusal.field is not None:
        return Problem(
            422,
            refusal.code,
            INVALID_TITLE,
            f"{refusal.field} {refusal.message}",
            errors=[{"field": refusal.field, "message": refusal.message}],
        )
    return problem_from(refusal)


@contextmanager
def answering() -> Iterator[None]:
    """Run a use case, answering its refusal as a problem document."""
    try:
        yield
    except Refused as refusal:
        raise problem(refusal) from refusal
