"""The capacity benchmark's arithmetic and its closed loop do what its figures claim
(bench/capacity.py): a wrong percentile, window or stop rule would misstate the ceiling."""

from __future__ import annotations

import argparse
import asyncio
import socket
import uuid
from collections import Counter, deque
from pathlib import Path

import httpx
import pytest

from bench import statements
from bench.capacity import (
    Idle,
    Snapshot,
    StepTally,
    capacity,
    client,
    parse_steps,
    results_name,
    step_figures,
    stop_reason,
)
from bench.cpu import parse_counters
from bench.harness import free_offset, percentiles
from bench.launch import Journeys
from bench.launch_register import Provider
from scripts.run_platform import SERVICES


def test_percentiles_are_nearest_rank_in_milliseconds() -> None:
    seconds = [i / 1000 for i in range(1, 101)]  # 1 ms .. 100 ms, shuffled below
    seconds.reverse()
    assert percentiles(seconds) == {"p50": 51.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
    assert percentiles([0.25]) == {"p50": 250.0, "p95": 250.0, "p99": 250.0, "max": 250.0}
    assert percentiles([]) == {}


def test_a_step_passes_only_within_the_latency_limit_and_without_errors() -> None:
    assert stop_reason(299.9, 0, False, 300) == ""
    assert stop_reason(300.0, 0, False, 300) == ""
    assert "p99 300.1 ms > 300 ms" in stop_reason(300.1, 0, False, 300)
    assert stop_reason(12.0, 1, False, 300) == "1 errors"
    assert stop_reason(None, 0, False, 300) == "no order was accepted"
    assert "providers ran out" in stop_reason(12.0, 0, True, 300)


def test_capacity_is_the_fastest_step_that_passed() -> None:
    steps = [
        {"clients": 2, "orders_handed_off_per_second": 8.0, "passed": True},
        {"clients": 4, "orders_handed_off_per_second": 11.0, "passed": True},
        {"clients": 8, "orders_handed_off_per_second": 10.5, "passed": True},
        {"clients": 16, "orders_handed_off_per_second": 12.0, "passed": False},
    ]
    best = capacity(steps)
    assert best is not None and best["clients"] == 4
    assert capacity([{"orders_handed_off_per_second": 5.0, "passed": False}]) is None


#: What rabbitmqctl eval prints for rabbit_global_counters:overview() (RabbitMQ 3.10), cut down.
OVERVIEW = """#{[{protocol,amqp091}] =>
      #{consumers => 3,messages_confirmed_total => 40,
        messages_received_confirm_total => 40,messages_received_total => 50,
        messages_routed_total => 48,messages_unroutable_dropped_total => 2},
  [{protocol,amqp091},{queue_type,rabbit_classic_queue}] =>
      #{messages_acknowledged_total => 5,
        messages_delivered_total => 6,messages_redelivered_total => 1},
  [{protocol,amqp091},{queue_type,rabbit_quorum_queue}] =>
      #{messages_acknowledged_total => 70,
        messages_delivered_consume_manual_ack_total => 71,
        messages_delivered_total => 71,messages_redelivered_total => 0}}
"""


def test_broker_counters_are_summed_over_queue_types() -> None:
    assert parse_counters(OVERVIEW) == {
        "published": 50,
        "routed": 48,
        "delivered": 77,
        "acknowledged": 75,
        "redelivered": 1,
    }


def _snapshot(at: float, scale: int, errors: int = 0) -> Snapshot:
    return Snapshot(
        at=at,
        cpu={"orders": 1.0 * scale, "postgresql": 0.5 * scale, "load_generator": 0.1 * scale},
        transactions={"orders": 10 * scale, "dispatch": 5 * scale},
        messages={"published": 20 * scale, "delivered": 30 * scale},
        handed_off=9 * scale,
        errors=Counter({"order: 500": errors} if errors else {}),
        not_ready_retries=scale,
        accepted=10 * scale,
    )


def test_a_step_counts_only_its_window_and_costs_per_order_accepted_in_it() -> None:
    tally = StepTally()
    tally.finished = [
        (99.0, "order", 5.0, 201),  # warm-up: outside the window
        (100.0, "order", 0.010, 201),
        (105.0, "order", 0.020, 201),
        (106.0, "order", 0.001, 409),  # not ready: not an accepted POST
        (107.0, "sign_in", 0.030, 200),
        (110.0, "order", 9.0, 201),  # after the window
    ]
    tally.accepted = [(100.0, 0.5), (105.0, 0.02)]
    step = step_figures(4, _snapshot(100.0, 1), _snapshot(110.0, 2), tally, False, 300)

    assert step["orders_accepted"] == 10 and step["orders_accepted_per_second"] == 1.0
    assert step["orders_handed_off"] == 9 and step["orders_handed_off_per_second"] == 0.9
    assert step["order_ms"]["max"] == 20.0 and step["order_ms"]["p50"] == 10.0
    assert step["sign_in_ms"]["p50"] == 30.0
    assert step["order_until_accepted_ms"]["max"] == 500.0
    # 1 s of orders CPU over 10 orders = 100 ms each; the platform's total leaves out the
    # generator's 10 ms.
    assert step["cpu_ms_per_order"]["orders"] == 100.0
    assert step["cpu_ms_per_order"]["total"] == 160.0
    assert step["cpu_ms_per_order"]["total_without_load_generator"] == 150.0
    assert step["transactions_per_order"] == {"orders": 1.0, "dispatch": 0.5, "total": 1.5}
    assert step["messages_per_order"] == {"published": 2.0, "delivered": 3.0}
    assert step["passed"] and step["stopped_because"] == ""


def test_cpu_beyond_idle_takes_off_what_the_platform_spends_with_nobody_ordering() -> None:
    quiet, first = _snapshot(0.0, 1), _snapshot(10.0, 1)
    first.cpu = {"orders": 1.2, "postgresql": 0.5, "load_generator": 0.1}  # orders: 20 ms/s
    first.transactions = {"orders": 15, "dispatch": 5}
    idle = Idle.between(quiet, first)
    assert idle.cpu_ms_per_second == {"orders": 20.0, "postgresql": 0.0, "load_generator": 0.0}
    assert idle.transactions_per_second == {"orders": 0.5, "dispatch": 0.0}

    step = step_figures(4, _snapshot(100.0, 1), _snapshot(110.0, 2), StepTally(), False, 300, idle)
    # 1,000 ms of orders CPU in 10 s, 200 ms of it idle, over 10 orders.
    assert step["cpu_ms_per_order"]["orders"] == 100.0
    assert step["beyond_idle"]["cpu_ms_per_order"]["orders"] == 80.0
    assert step["beyond_idle"]["cpu_ms_per_order"]["total_without_load_generator"] == 130.0
    # 10 orders transactions in 10 s, 5 of them idle; dispatch was not busy idle.
    assert step["beyond_idle"]["transactions_per_order"] == {
        "orders": 0.5,
        "dispatch": 0.5,
        "total": 1.0,
    }


def test_messages_per_order_are_left_out_when_the_broker_could_not_be_read() -> None:
    before, after = _snapshot(100.0, 1), _snapshot(110.0, 2)
    before.messages = {}
    step = step_figures(4, before, after, StepTally(), False, 300)
    assert step["messages_per_order"] == {}
    assert step["cpu_ms_per_order"]["orders"] == 100.0


def test_errors_in_the_window_stop_the_climb() -> None:
    tally = StepTally()
    tally.finished = [(101.0, "order", 0.01, 201)]
    step = step_figures(
        8, _snapshot(100.0, 1, errors=2), _snapshot(110.0, 2, errors=5), tally, False, 300
    )
    assert step["errors"] == {"order: 500": 3} and not step["passed"]


def test_steps_must_rise() -> None:
    assert parse_steps("2,4,8,16,32") == [2, 4, 8, 16, 32]
    for wrong in ("4,2", "0,2", "2,2", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_steps(wrong)


def test_results_go_to_a_file_named_after_the_label() -> None:
    assert results_name("before") == "capacity-before.json"
    assert results_name("after uvloop/orjson") == "capacity-after-uvloop-orjson.json"
    assert results_name("") == "capacity.json"


class CountingSite:
    """Identity and orders as far as sign in -> order needs them, counting who is in flight."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.in_flight = 0
        self.most_in_flight = 0
        self.ordered: Counter[str] = Counter()

    def url(self, service: str, path: str) -> str:
        return f"http://{service}.test{path}"

    async def answer(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.005)
            if request.url.path == "/api/sign-in":
                email = httpx.Response(200, content=request.content).json()["email"]
                return httpx.Response(200, json={"access_token": email})
            who = request.headers["Authorization"].removeprefix("Bearer ")
            self.ordered[who] += 1
            return httpx.Response(201, json={"order_id": str(uuid.uuid4())})
        finally:
            self.in_flight -= 1


async def test_the_closed_loop_keeps_n_clients_busy_with_a_new_provider_each(
    tmp_path: Path,
) -> None:
    site = CountingSite(tmp_path)
    tally = StepTally()
    people = [Provider("cqc_single", f"p{i}@example.test", "X1", [("1-1", 5)]) for i in range(40)]
    pool = deque(people)
    stop = asyncio.Event()
    async with httpx.AsyncClient(transport=httpx.MockTransport(site.answer)) as http:
        journeys = Journeys(site, http, tally, think=0)
        await asyncio.gather(*(client(journeys, tally, pool, stop) for _ in range(4)))

    assert site.most_in_flight == 4  # no more than N at once, and no idle client
    assert set(site.ordered) == {p.email for p in people}
    assert set(site.ordered.values()) == {1}  # each provider orders once
    assert len(tally.accepted) == 40 == len(tally.placed_at) and not tally.errors
    assert [k for _, k, _, _ in tally.finished].count("order") == 40


def test_a_benchmark_platform_moves_past_ports_another_platform_listens_on() -> None:
    """Two private platforms on one offset: ours failed to bind, theirs took our load."""
    first = free_offset(760)
    with socket.socket() as other:
        other.bind(("127.0.0.1", SERVICES["orders"] + first))
        other.listen()
        moved = free_offset(first)
    assert moved > first
    assert free_offset(first) == first  # free again once the other platform stops


def test_statements_per_order_count_only_what_ran_between_the_readings() -> None:
    before = {("orders", 1): (100, "SELECT 1"), ("dispatch", 2): (10, "BEGIN")}
    after = {
        ("orders", 1): (120, "SELECT 1"),
        ("dispatch", 2): (30, "BEGIN"),
        ("orders", 3): (5, "INSERT  INTO orders\n VALUES ($1)"),
        ("reporting", 4): (0, "never ran"),
    }
    figures = statements.per_order(before, after, orders=10, top=1)
    assert figures["total"] == 4.5
    assert figures["by_database"] == {"orders": 2.5, "dispatch": 2.0}
    assert figures["busiest"] == {
        "orders": [{"per_order": 2.0, "statement": "SELECT 1"}],
        "dispatch": [{"per_order": 2.0, "statement": "BEGIN"}],
    }
    assert statements.per_order(before, after, orders=0) == {}
