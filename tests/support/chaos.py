"""Launch-day load while the platform's pieces fail, then an exact reconciliation.

The platform runs as five processes (as the run command starts them) against a RabbitMQ node
and a PostgreSQL cluster of its own (tests/support/private_infra.py), because the faults
restart the broker and the database and the machine's own serve other people. Providers
arrive and order as in the launch benchmark (bench/launch.py, persisting through outages as
a person would); meanwhile, one after another at random moments, RabbitMQ is restarted twice
(once stopped cleanly, once killed), PostgreSQL once (an immediate stop: crash recovery), and
each service is killed with SIGKILL once and started again. When the load ends and the
backlog has drained, every accepted order must be in exactly one final state, none
dispatched twice, the badge ledger must balance and the dead-letter queues must be empty.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.launch import Journeys, Tally, percentiles, wait_until_final
from bench.launch_register import Provider, launch_providers
from scripts.run_platform import SERVICES
from tests.support.private_infra import private_root
from tests.support.private_platform import PrivatePlatform, private_platform
from tests.support.reconcile import Reconciliation, reconcile

Fault = tuple[str, Callable[[], Awaitable[None]]]


def faults(platform: PrivatePlatform) -> list[Fault]:
    """Every fault the scenario injects, once each (RabbitMQ twice)."""
    rabbit, postgres = platform.rabbit, platform.postgres
    chosen: list[Fault] = [
        ("restart RabbitMQ (clean stop)", lambda: asyncio.to_thread(rabbit.restart)),
        ("restart RabbitMQ (kill -9)", lambda: asyncio.to_thread(rabbit.restart, True)),
        ("restart PostgreSQL (immediate)", lambda: asyncio.to_thread(postgres.restart)),
    ]
    for name in SERVICES:
        chosen.append((f"kill -9 {name}", _killer(platform, name)))
    return chosen


def _killer(platform: PrivatePlatform, name: str) -> Callable[[], Awaitable[None]]:
    return lambda: platform.kill_and_restart(name)


@dataclass
class ChaosResult:
    reconciliation: Reconciliation
    figures: dict[str, Any]


async def inject(
    platform: PrivatePlatform, rng: random.Random, window: float, log: list[dict[str, Any]]
) -> None:
    """Each fault once, in a random order, at random moments spread over ``window``."""
    chosen = faults(platform)
    rng.shuffle(chosen)
    started = time.perf_counter()
    slots = sorted(rng.uniform(0, window) for _ in chosen)
    for (what, fault), at in zip(chosen, slots, strict=True):
        await asyncio.sleep(max(0.0, started + at - time.perf_counter()))
        began = time.perf_counter()
        print(f"    fault at {began - started:5.1f}s: {what}", flush=True)
        await fault()
        log.append(
            {
                "fault": what,
                "at_seconds": round(began - started, 1),
                "recovered_in_seconds": round(time.perf_counter() - began, 1),
            }
        )


async def run_chaos(
    providers_count: int, window: float, think: float = 1.0, seed: int = 17
) -> ChaosResult:
    """The whole scenario on a private broker and database, removed afterwards."""
    rng = random.Random(seed)
    root = private_root()
    providers = launch_providers(
        root / "register.csv", round(providers_count * 1.25), non_cqc=0, seed=seed
    )
    badges = sum(n for p in providers for _, n in p.lines)
    async with private_platform(root / "register.csv", int(badges * 0.97), root) as platform:
        print(f"==> {len(providers)} providers over {window:.0f}s with faults", flush=True)
        tally, fault_log = Tally(), list[dict[str, Any]]()
        started = time.perf_counter()
        await asyncio.gather(
            _load(platform, providers, tally, window, think, rng),
            inject(platform, rng, window, fault_log),
        )
        load_seconds = time.perf_counter() - started
        urls = platform.database_urls()
        final_at = await wait_until_final(urls, set(tally.placed_at), wait=300)
        outcome = await reconcile(urls, platform.rabbit.url, tally.placed_at)
    figures = {
        "providers": len(providers),
        "window_seconds": window,
        "orders_accepted": len(tally.placed_at),
        "orders_found_after_a_lost_answer": tally.recovered_orders,
        "load_seconds": round(load_seconds, 1),
        "drained_seconds_after_load": round(final_at - started - load_seconds, 1),
        "faults": fault_log,
        "client_retries_and_errors": dict(tally.errors),
        "request_ms": {kind: percentiles(v) for kind, v in sorted(tally.latency.items())},
        "counts": outcome.counts,
        "reconciled": outcome.ok,
        "mismatches": outcome.mismatches,
    }
    return ChaosResult(outcome, figures)


async def _load(
    platform: PrivatePlatform,
    providers: list[Provider],
    tally: Tally,
    window: float,
    think: float,
    rng: random.Random,
) -> None:
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=100, keepalive_expiry=3)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        journeys = Journeys(platform, http, tally, think, persist=240)
        t0 = time.perf_counter()
        arrivals = sorted(t0 + rng.uniform(0, window) for _ in providers)
        await asyncio.gather(
            *(journeys.visit(p, at) for p, at in zip(providers, arrivals, strict=True))
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--providers", type=int, default=1000)
    parser.add_argument("--window", type=float, default=240)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = asyncio.run(run_chaos(args.providers, args.window, seed=args.seed))
    print(result.reconciliation.report())
    if args.out:
        args.out.write_text(json.dumps(result.figures, indent=2) + "\n")
    sys.exit(0 if result.reconciliation.ok else 1)
