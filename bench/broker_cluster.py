"""The broker as a cluster: three RabbitMQ nodes, quorum queues, launch load, and a node lost.

Starts three RabbitMQ nodes of Debian's rabbitmq-server on free loopback ports, each with its
data under a temporary folder (never the machine's own broker), clusters them (classic peer
discovery: the second and third join the first as they boot), and runs the five services as
processes with all three addresses in ``CARE_AMQP_URL`` (shared/messaging/failover.py), so
every quorum queue has a replica on each node. Providers arrive and order as in the launch
benchmark; meanwhile:

1. the node every service connected to first is killed with SIGKILL;
2. later it is started again and rejoins;
3. later another node is stopped cleanly (and stays down: two of three is a majority).

While that happens the services' own counters (``care_messages_published_total`` and
``care_messages_consumed_total``, summed over the five, read every 0.2 s) say when messages
stopped and started moving again: the pause reported at each fault is the longest time
neither counter moved from the fault until 60 s after it. When the load has ended and the
backlog drained, every accepted order is reconciled exactly (tests/support/reconcile.py):
each in one final state, none dispatched twice, the badge ledger balanced, no dead letters.

    .venv/bin/python bench/broker_cluster.py --providers 200 --window 150
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import shutil
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.harness import commit, machine, write_results
from bench.launch import Journeys, Tally, percentiles, wait_until_final
from bench.launch_register import Provider, launch_providers
from scripts.run_platform import SERVICES
from shared.periodic import Periodic
from tests.support.private_infra import (
    PrivatePostgres,
    PrivateRabbit,
    private_root,
)
from tests.support.private_platform import PrivatePlatform
from tests.support.reconcile import reconcile

OFFSET = 760
#: The services' counters of messages moving, each with the outcome that means it moved.
COUNTERS = {
    "care_messages_published_total": 'outcome="confirmed"',
    "care_messages_consumed_total": 'outcome="ok"',
}
PUBLISHED, CONSUMED = COUNTERS


class Cluster:
    """Three private RabbitMQ nodes that form one cluster as they boot."""

    def __init__(self, root: Path, size: int = 3) -> None:
        self.nodes = [
            PrivateRabbit(root / f"node{i + 1}", name="care-cluster") for i in range(size)
        ]
        discovery = [
            "cluster_formation.peer_discovery_backend = rabbit_peer_discovery_classic_config",
            *(
                f"cluster_formation.classic_config.nodes.{i + 1} = {node.node}"
                for i, node in enumerate(self.nodes)
            ),
            # Quorum queues keep a replica on every node the cluster has when they are declared.
            "cluster_partition_handling = pause_minority",
        ]
        for node in self.nodes:
            conf = node.root / "rabbitmq.conf"
            conf.write_text(conf.read_text() + "\n".join(discovery) + "\n")

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def start(self) -> None:
        for node in self.nodes:  # one by one: each later node finds the first running
            node.start()
        members = self.running_members()
        if len(members) != len(self.nodes):
            raise RuntimeError(f"the nodes did not form one cluster: {members}")

    def running_members(self, via: int = 0) -> list[str]:
        status = json.loads(
            self.nodes[via].ctl("cluster_status", "--formatter", "json", timeout=180)
        )
        return sorted(status.get("running_nodes", []))

    def remove(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.remove()


class ClusterPlatform(PrivatePlatform):
    """The five services, given longer to be ready: three nodes boot on a loaded machine."""

    async def ready(self, name: str, timeout: float = 300) -> None:  # noqa: ASYNC109
        await super().ready(name, timeout)


class Flow:
    """Reads the services' message counters every ``every`` seconds; keeps when they moved.
    Sampled by a :class:`shared.periodic.Periodic`, as the services run their own chores."""

    def __init__(self, platform: PrivatePlatform, every: float = 0.2) -> None:
        self.platform = platform
        self.samples: dict[str, list[tuple[float, float]]] = {name: [] for name in COUNTERS}
        self._http = httpx.AsyncClient(timeout=2)
        self._sampler = Periodic("counter-sampler", timedelta(seconds=every), self._sample)

    def start(self) -> None:
        self._sampler.start()

    async def stop(self) -> None:
        await self._sampler.stop()
        await self._http.aclose()

    async def _sample(self) -> int:
        totals = dict.fromkeys(COUNTERS, 0.0)
        answered = await asyncio.gather(
            *(self._http.get(self.platform.url(name, "/metrics")) for name in SERVICES),
            return_exceptions=True,
        )
        for response in answered:
            if isinstance(response, BaseException) or response.status_code != 200:
                continue
            for line in response.text.splitlines():
                for name, outcome in COUNTERS.items():
                    if line.startswith(name + "{") and outcome in line:
                        totals[name] += float(line.rsplit(" ", 1)[1])
        now = time.perf_counter()
        for name, value in totals.items():
            self.samples[name].append((now, value))
        return 0

    def pause_after(self, name: str, at: float, horizon: float = 60.0) -> float:
        """The longest time ``name`` did not grow, between ``at`` and ``at + horizon``."""
        moved = [at]
        previous = None
        for when, value in self.samples[name]:
            if previous is not None and value > previous and at < when <= at + horizon:
                moved.append(when)
            previous = value
        moved.append(min(at + horizon, self.samples[name][-1][0]))
        return round(max(b - a for a, b in itertools.pairwise(moved)), 1)


async def _load(
    platform: PrivatePlatform, providers: list[Provider], tally: Tally, window: float, seed: int
) -> None:
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=100, keepalive_expiry=3)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        journeys = Journeys(platform, http, tally, 1.0, persist=240)
        t0 = time.perf_counter()
        arrivals = sorted(t0 + rng.uniform(0, window) for _ in providers)
        await asyncio.gather(
            *(journeys.visit(p, at) for p, at in zip(providers, arrivals, strict=True))
        )


async def _faults(cluster: Cluster, flow: Flow, window: float, log: list[dict[str, Any]]) -> None:
    first, second = cluster.nodes[0], cluster.nodes[1]
    plan = [
        (0.25, "kill -9 node 1 (every service's first address)", lambda: first.stop_process(True)),
        (0.45, "start node 1 again", first.start),
        (0.65, "stop node 2 cleanly", lambda: second.stop_process(False)),
    ]
    started = time.perf_counter()
    for share, what, act in plan:
        await asyncio.sleep(max(0.0, started + share * window - time.perf_counter()))
        began = time.perf_counter()
        print(f"    {began - started:5.1f}s: {what}", flush=True)
        await asyncio.to_thread(act)
        log.append(
            {
                "fault": what,
                "at_seconds": round(began - started, 1),
                "took_seconds": round(time.perf_counter() - began, 1),
                "began": began,
            }
        )
    try:  # the figures matter more than this check; rabbitmqctl is slow on a loaded machine
        members = await asyncio.to_thread(cluster.running_members, 2)
        log.append({"running_nodes_after_the_faults": len(members)})
    except Exception as exc:
        log.append({"running_nodes_after_the_faults": f"not known: {type(exc).__name__}"})


async def run(
    providers_count: int, window: float, seed: int, keep_logs: Path | None = None
) -> dict[str, Any]:
    root = private_root("care-cluster-")
    cluster = Cluster(root)
    postgres = PrivatePostgres(root)
    platform = ClusterPlatform(root, cluster.nodes[0], postgres, offset=OFFSET)
    providers = launch_providers(
        root / "register.csv", round(providers_count * 1.25), non_cqc=0, seed=seed
    )
    badges = sum(n for p in providers for _, n in p.lines)
    try:
        await asyncio.gather(asyncio.to_thread(cluster.start), asyncio.to_thread(postgres.start))
        print(f"==> cluster of {len(cluster.nodes)}: {', '.join(cluster.urls)}", flush=True)
        await platform.start(
            root / "register.csv", int(badges * 0.97), {"CARE_AMQP_URL": ",".join(cluster.urls)}
        )
        flow = Flow(platform)
        flow.start()
        tally, fault_log = Tally(), list[dict[str, Any]]()
        print(f"==> {len(providers)} providers over {window:.0f}s with node faults", flush=True)
        started = time.perf_counter()
        await asyncio.gather(
            _load(platform, providers, tally, window, seed),
            _faults(cluster, flow, window, fault_log),
        )
        load_seconds = time.perf_counter() - started
        urls = platform.database_urls()
        final_at = await wait_until_final(urls, set(tally.placed_at), wait=300)
        await flow.stop()
        for entry in fault_log:
            if "began" in entry:
                began = entry.pop("began")
                entry["publishing_paused_seconds"] = flow.pause_after(PUBLISHED, began)
                entry["consuming_paused_seconds"] = flow.pause_after(CONSUMED, began)
        # The same measure over the calm before the first fault: the load's own gaps.
        first = started + 0.25 * window
        calm = {
            "from_seconds": 10.0,
            "to_seconds": round(0.25 * window, 1),
            "publishing_longest_gap_seconds": flow.pause_after(
                PUBLISHED, started + 10, first - started - 10
            ),
            "consuming_longest_gap_seconds": flow.pause_after(
                CONSUMED, started + 10, first - started - 10
            ),
        }
        outcome = await reconcile(urls, cluster.nodes[0].url, tally.placed_at)
        print(outcome.report(), flush=True)
    finally:
        await platform.stop()
        if keep_logs:
            shutil.copytree(root / "state" / "logs", keep_logs, dirs_exist_ok=True)
            for i, node in enumerate(cluster.nodes):
                with contextlib.suppress(OSError):
                    shutil.copytree(node.root / "log", keep_logs / f"node{i + 1}")
        cluster.remove()
        postgres.remove()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "benchmark": "broker_cluster",
        "commit": commit(),
        "machine": machine(),
        "nodes": len(cluster.nodes),
        "queues": "quorum, a replica on each node",
        "connection": "CARE_AMQP_URL lists the three nodes; failover to the next on loss",
        "providers": len(providers),
        "window_seconds": window,
        "orders_accepted": len(tally.placed_at),
        "load_seconds": round(load_seconds, 1),
        "drained_seconds_after_load": round(final_at - started - load_seconds, 1),
        "before_the_faults": calm,
        "faults": fault_log,
        "client_retries_and_errors": dict(tally.errors),
        "request_ms": {kind: percentiles(v) for kind, v in sorted(tally.latency.items())},
        "counts": outcome.counts,
        "reconciled": outcome.ok,
        "mismatches": outcome.mismatches,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--providers", type=int, default=200)
    parser.add_argument("--window", type=float, default=150)
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--out", default="broker-cluster.json")
    parser.add_argument("--keep-logs", type=Path, default=None, help="copy the logs here")
    args = parser.parse_args()
    figures = asyncio.run(run(args.providers, args.window, args.seed, args.keep_logs))
    write_results(args.out, figures)
    sys.exit(0 if figures["reconciled"] else 1)


if __name__ == "__main__":
    main()
