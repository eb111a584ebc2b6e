"""What the launch and capacity benchmarks share: their options, the platform they start with
its generated register, the raw one-hop ceiling beside it, and where their figures go.

Both start the platform the same way (tests/support/private_platform.py on a RabbitMQ node and
PostgreSQL cluster of its own) with launch day's register (bench/launch_register.py), so a
figure from one can be set beside a figure from the other.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import raw_hop
from bench.launch_register import Provider, launch_providers
from bench.profiling import Profiler
from scripts.run_platform import MAIL_PORT, SERVICES
from tests.support.private_infra import private_root
from tests.support.private_platform import OFFSET, PrivatePlatform, private_platform

RESULTS = Path(__file__).resolve().parent / "results"


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max of durations in seconds, as milliseconds (nearest rank)."""
    if not values:
        return {}
    ordered = sorted(values)

    def at(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000, 1)

    return {"p50": at(50), "p95": at(95), "p99": at(99), "max": at(100)}


def add_platform_options(parser: argparse.ArgumentParser) -> None:
    """The options every run of the platform takes, whatever load it then drives."""
    parser.add_argument("--raw-messages", type=int, default=3000, help="for the raw hop ceiling")
    parser.add_argument("--profile", default="", help="services to py-spy, e.g. orders,dispatch")
    parser.add_argument("--label", default="", help="a note kept with the figures")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the services, e.g. CARE_ORDERS_CONSUMER_CONCURRENCY=1000",
    )


def settings_from(args: argparse.Namespace) -> dict[str, str]:
    return dict(item.split("=", 1) for item in args.set)


@dataclass
class Run:
    """A started platform and who will use it."""

    platform: PrivatePlatform
    providers: list[Provider]
    stock: int


def _free(port: int) -> bool:
    with socket.socket() as s:
        # As the services bind: a closed connection's TIME_WAIT does not hold the port.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_offset(first: int, step: int = 10, tries: int = 20) -> int:
    """The first port offset from ``first`` at which every service's port and the mail port
    are free. Another benchmark's platform on the same ports would answer our readiness
    checks and take our load while our services failed to bind."""
    for offset in range(first, first + step * tries, step):
        ports = [port + offset for port in (*SERVICES.values(), MAIL_PORT)]
        if all(_free(port) for port in ports):
            if offset != first:
                print(f"==> ports at offset {first} are taken (another run?): using {offset}")
            return offset
    raise RuntimeError(f"no free port offset from {first}: is another benchmark running?")


@contextlib.asynccontextmanager
async def started(
    cqc_providers: int,
    non_cqc: int,
    stock_share: float,
    settings: dict[str, str],
    first_offset: int = OFFSET,
    postgres_settings: tuple[str, ...] = (),
) -> AsyncIterator[Run]:
    """A generated register for ``cqc_providers`` (and ``non_cqc`` sign-ups), the platform
    started on it with ``stock_share`` of the badges they will ask for, on ports free from
    ``first_offset`` on; removed afterwards."""
    offset = free_offset(first_offset)
    state = private_root()
    locations = round(cqc_providers * 1.25)  # multi-location providers hold three each
    providers = launch_providers(state / "register.csv", locations, non_cqc)
    badges = sum(n for p in providers for _, n in p.lines)
    stock = int(badges * stock_share)
    print(f"==> {len(providers)} providers, {badges} badges asked for, {stock} in stock")
    async with private_platform(
        state / "register.csv", stock, state, settings, offset, postgres_settings
    ) as platform:
        await asyncio.sleep(1)
        exited = [name for name, proc in platform.processes.items() if proc.poll() is not None]
        if exited:  # e.g. a port taken after all: whatever answered was not ours
            raise RuntimeError(f"{exited} exited after start; see {platform.state / 'logs'}")
        yield Run(platform, providers, stock)


async def raw_ceiling(platform: PrivatePlatform, messages: int) -> dict[str, Any]:
    """The raw one-hop ceiling on the platform's own broker and database, printed as it comes."""
    print(f"==> raw one-hop ceiling ({messages} messages)", flush=True)
    ceiling = await raw_hop.measure_on(platform.rabbit.url, platform.postgres.url, messages)
    print(json.dumps(ceiling), flush=True)
    return ceiling


def profiler_for(
    platform: PrivatePlatform, args: argparse.Namespace, run_name: str
) -> Profiler | None:
    """py-spy on the services ``--profile`` names (None when it names none)."""
    if not args.profile:
        return None
    return Profiler(platform.pids(), args.profile.split(","), RESULTS, run_name)


def commit() -> str:
    """The platform's commit the figures are of ("+changes" when the tree differs from it)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return result.stdout.strip()

    changed = git("status", "--porcelain", "--untracked-files=no", "--", "services", "shared")
    return git("rev-parse", "--short", "HEAD") + ("+changes" if changed else "")


def machine() -> dict[str, Any]:
    """What the figures were measured on: a loaded machine makes rates, not CPU, move."""
    return {"cores": os.cpu_count(), "load_average_after": os.getloadavg()}


def write_results(name: str, figures: dict[str, Any]) -> None:
    """Print the figures and keep them as ``bench/results/<name>``; with no name, only print
    them (a quick run whose figures are not worth keeping)."""
    if name:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / name).write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
