"""How orders' API answers a use case's refusal: the status comes from its kind
(:func:`shared.http.problems.problem_from`). A conflict names the field it is about beside
the problem (``field``), as this API always has; a rule the request breaks lists the field
in ``errors``, as invalid input does."""

from __future__ import annotations

from shared.http.problems import Problem, problem_from
from shared.usecases import Conflict, Refused


def problem(refused: Refused) -> Problem:
    if isinstance(refused, Conflict) and refused.field is not None:
        return Problem(409, refused.code, refused.title, refused.message, field=refused.field)
    return problem_from(refused)
