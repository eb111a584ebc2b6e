"""The statement recorder the cost tests and benchmarks share (tests/support/round_trips.py):
labels, counts, and nothing left patched or listening after a recording, even a failed one."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from shared.store import prepared
from tests.support.round_trips import TRANSACTION, recording


def test_what_is_sent_is_counted_by_label_and_kind() -> None:
    with recording() as sent:
        with sent.labelled("place"):
            sent.add("prepared", "SELECT  1")
            sent.add("begin", "BEGIN")
        sent.add("sqlalchemy", "SELECT 2")
    assert sent.count("place") == 1
    assert sent.count() == 2
    assert sent.count("place", TRANSACTION) == 1
    assert sent.tally() == {"SELECT 1": 1, "SELECT 2": 1}


def test_a_label_is_kept_by_tasks_started_inside_it_and_ends_with_its_block() -> None:
    async def scenario() -> tuple[int, int]:
        with recording() as sent:
            with sent.labelled("inside"):
                await asyncio.create_task(asyncio.sleep(0, sent.add("prepared", "a")))
            sent.add("prepared", "b")
            return sent.count("inside"), sent.count("")

    assert asyncio.run(scenario()) == (1, 1)


def test_a_label_set_for_the_rest_of_a_task_ends_with_the_recording() -> None:
    with recording() as sent:
        sent.label_from_now("step")
        sent.add("prepared", "a")
    sent.add("prepared", "b")  # after the recording: no label any more
    assert sent.count("step") == 1 and sent.count("") == 1


def test_nothing_stays_patched_or_listening_after_a_recording_that_failed() -> None:
    fetch, fetch_alone = prepared.fetch, prepared.fetch_alone
    with pytest.raises(RuntimeError), recording() as sent:
        assert prepared.fetch is not fetch and prepared.fetch_alone is not fetch_alone
        [(target, name, listener)] = sent.listeners
        assert target is Session and event.contains(target, name, listener)
        raise RuntimeError("the work failed")
    assert prepared.fetch is fetch and prepared.fetch_alone is fetch_alone
    assert not event.contains(target, name, listener)


def test_an_engine_recording_keeps_no_sessions_and_says_so() -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    with recording(engine) as sent, pytest.raises(TypeError):
        sent.sessions()
