"""A use case's refusal reads the same from the API whichever route raised it."""

from __future__ import annotations

import asyncpg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import DBAPIError

from shared.http import problems
from shared.usecases import Conflict, Invalid, NotAllowed, NotFound, Refused, Unavailable


@pytest.mark.parametrize(
    ("refusal", "status"),
    [
        (Invalid("too-many", "Order 10,000 or fewer.", field="quantity"), 422),
        (NotFound("order-not-found", "There is no order with that id."), 404),
        (Conflict("already-dispatched", "The parcels are with the courier."), 409),
        (NotAllowed("restricted", "Your account's data is restricted."), 403),
        (Unavailable("busy", "Try again in a minute.", retry_after=60), 503),
    ],
)
def test_each_kind_of_refusal_answers_with_its_status(refusal: Refused, status: int) -> None:
    app = FastAPI()
    problems.install(app)

    @app.get("/x")
    async def refuse() -> None:
        raise refusal

    answer = TestClient(app).get("/x")
    body = answer.json()
    assert answer.status_code == status == body["status"]
    assert answer.headers["content-type"] == problems.PROBLEM_JSON
    assert body["type"].endswith(refusal.code) and body["detail"] == refusal.message
    if refusal.field:
        assert body["errors"] == [{"field": refusal.field, "message": refusal.message}]
    if status == 503:
        assert answer.headers["retry-after"] == "60" and "retry_after" not in body


class Throttled(Refused):
    """A service's own kind, with a status of its own."""


def test_a_service_states_the_status_of_its_own_kinds_and_the_rest_stay_shared() -> None:
    app = FastAPI()
    problems.install(app)
    problems.answer_refusals(app, {Throttled: 429})

    @app.get("/own")
    async def own() -> None:
        raise Throttled("too-many", "Wait a minute.", retry_after=60)

    @app.get("/shared")
    async def shared() -> None:
        raise NotFound("nothing", "Nothing here.")

    client = TestClient(app)
    throttled = client.get("/own")
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "60"
    assert client.get("/shared").status_code == 404
    assert problems.problem_from(Throttled("x", "y")).status == 422  # unknown elsewhere


def test_a_passing_database_fault_asks_the_caller_to_try_again_and_a_bug_does_not() -> None:
    app = FastAPI()
    problems.install(app)

    @app.get("/deadlock")
    async def deadlock() -> None:
        lost = asyncpg.exceptions.DeadlockDetectedError("deadlock detected")
        raise DBAPIError("SELECT 1", None, lost)

    @app.get("/bug")
    async def bug() -> None:
        raise KeyError("oops")

    client = TestClient(app, raise_server_exceptions=False)
    again = client.get("/deadlock")
    assert again.status_code == 503 and again.headers["Retry-After"] == "1"
    assert again.json()["type"].endswith("/try-again")
    assert client.get("/bug").status_code == 500
