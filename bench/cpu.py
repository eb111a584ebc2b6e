"""CPU time each part of the platform spent, from /proc: where a launch burst's cores went.

Rates on a shared two-core machine move with whatever else runs on it; the CPU seconds a
process spent per order do not, so they say which part to make cheaper. PostgreSQL is the
postmaster with its backends (live ones, and exited ones through the postmaster's children
times); RabbitMQ is its Erlang VM.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections import Counter
from pathlib import Path

from tests.support.private_infra import free_port
from tests.support.private_platform import PrivatePlatform

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields from the state on (the name may hold spaces)


def cpu_seconds(pid: int, with_reaped_children: bool = False) -> float:
    fields = _stat(pid)
    if fields is None:
        return 0.0
    # After the name: state=0, ppid=1, ..., utime=11, stime=12, cutime=13, cstime=14.
    ticks = int(fields[11]) + int(fields[12])
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and int(fields[1]) == parent:
            found.append(int(entry.name))
    return found


def _pid_in(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def snapshot(platform: PrivatePlatform) -> dict[str, float]:
    """CPU seconds so far of each service, PostgreSQL, RabbitMQ and this generator."""
    seconds = {name: cpu_seconds(pid) for name, pid in platform.pids().items() if name != "mail"}
    postmaster = _pid_in(platform.postgres.data / "postmaster.pid")
    if postmaster:
        seconds["postgresql"] = cpu_seconds(postmaster, with_reaped_children=True) + sum(
            cpu_seconds(child) for child in _children(postmaster)
        )
    beam = _pid_in(platform.rabbit.root / "rabbit.pid")
    if beam:
        seconds["rabbitmq"] = cpu_seconds(beam)
    seconds["load_generator"] = sum(os.times()[:2])
    return seconds


async def transactions(platform: PrivatePlatform) -> dict[str, int]:
    """Transactions each service's database has run so far (committed and rolled back).

    Per order, this says how many units of work the saga costs, a figure no other load on the
    machine moves: what group commit (shared/messaging/group_commit.py) is there to reduce.
    """
    import asyncpg  # the benchmark's own dependency, as the services use it

    dsn = platform.postgres.url.replace("postgresql+asyncpg://", "postgresql://") + "/postgres"
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT datname, xact_commit + xact_rollback AS n FROM pg_stat_database"
            " WHERE datname LIKE 'care_%'"
        )
    finally:
        await conn.close()
    return {row["datname"].removeprefix("care_"): int(row["n"]) for row in rows}


#: The broker's own counters (RabbitMQ 3.10+), kept whatever plugins the node runs: the private
#: node runs none, so there is no management API to ask.
_COUNTERS = "rabbit_global_counters:overview()."
#: What each counter is called in the figures: AMQP publishes received from clients, those
#: routed to at least one queue, deliveries to consumers, acks, and redeliveries.
MESSAGE_COUNTERS = {
    "messages_received_total": "published",
    "messages_routed_total": "routed",
    "messages_delivered_total": "delivered",
    "messages_acknowledged_total": "acknowledged",
    "messages_redelivered_total": "redelivered",
}


def parse_counters(text: str) -> dict[str, int]:
    """``rabbit_global_counters:overview()`` as printed by rabbitmqctl eval, each counter
    summed over the protocol and queue-type groups it appears in (``name => value``)."""
    totals: Counter[str] = Counter()
    for name, value in re.findall(r"(\w+)\s*=>\s*(\d+)", text):
        totals[name] += int(value)
    return {MESSAGE_COUNTERS[k]: totals.get(k, 0) for k in MESSAGE_COUNTERS}


async def messages(platform: PrivatePlatform, tries: int = 3) -> dict[str, int]:
    """Messages the platform's broker has received, routed, delivered and had acked so far
    (empty if rabbitmqctl keeps failing: the run's other figures still stand).

    Per order, this says how many hops the saga costs; rabbitmqctl is a process of its own
    (about half a second), so take it at the ends of a measurement, not during one. On a
    busy machine it now and then fails to reach the node, so it is tried again.
    """
    for attempt in range(tries):
        # The CLI's own distribution port comes from a range of eleven by default, shared
        # with every rabbitmqctl on the machine (stuck ones hold theirs): give it its own.
        port = free_port()
        os.environ["RABBITMQ_CTL_DIST_PORT_MIN"] = str(port)
        os.environ["RABBITMQ_CTL_DIST_PORT_MAX"] = str(port + 10)
        try:
            return parse_counters(await asyncio.to_thread(platform.rabbit.ctl, "eval", _COUNTERS))
        except subprocess.SubprocessError as exc:
            detail = getattr(exc, "stderr", "") or getattr(exc, "stdout", "") or ""
            print(f"  rabbitmqctl failed ({attempt + 1}/{tries}): {exc} {detail[:300]}")
            await asyncio.sleep(1)
    return {}


def per_order(
    before: dict[str, float], after: dict[str, float], orders: int, scale: float = 1000
) -> dict[str, float]:
    """What each part spent per accepted order (by default CPU seconds as milliseconds), and
    their total."""
    if not orders:
        return {}
    spent = {k: (after.get(k, 0.0) - before.get(k, 0.0)) * scale / orders for k in after}
    spent["total"] = sum(spent.values())
    return {k: round(v, 1) for k, v in sorted(spent.items(), key=lambda kv: -kv[1])}
