"""The platform as five processes on a RabbitMQ node and PostgreSQL cluster of its own.

The machine's broker and database are shared with other people and CI: the chaos scenario
restarts its broker and database, and the launch benchmark wants figures that another
user's vhost churn cannot stall, so both run here. Services start as the run command starts
them (scripts/run_platform.py), and each can be killed and started again on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from scripts import run_platform
from scripts.run_platform import SERVICES
from tests.support.private_infra import PrivatePostgres, PrivateRabbit, private_root

OFFSET = 700


@dataclass
class PrivatePlatform:
    """The five services as processes on a private broker and database, restartable one by one."""

    root: Path
    rabbit: PrivateRabbit
    postgres: PrivatePostgres
    state: Path = field(init=False)
    args: argparse.Namespace = field(init=False)
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: Added to every service's port: two platforms on one machine need different offsets.
    offset: int = OFFSET

    def __post_init__(self) -> None:
        self.state = self.root / "state"

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{SERVICES[service] + self.offset}{path}"

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.processes.items()}

    def database_urls(self) -> dict[str, str]:
        return {n: f"{self.postgres.url}/care_{n}" for n in SERVICES}

    async def start(self, register: Path, stock: int, settings: dict[str, str]) -> None:
        self.args = argparse.Namespace(
            state=self.state,
            port_offset=self.offset,
            db_suffix="",
            amqp_url=self.rabbit.url,
            postgres_url=self.postgres.url,
            register=register,
            initial_stock=stock,
            forwarded_allow_ips="",  # nothing in front of it: proxy headers are not believed
        )
        self.env = run_platform.prepare_environment(self.args)
        self.env.update(settings)
        await asyncio.to_thread(run_platform.prepare_data, self.args, self.env)
        logs = self.state / "logs"
        logs.mkdir(exist_ok=True)
        self.processes["mail"] = run_platform.start_mail_server(self.args, self.env, logs)
        for name in SERVICES:
            self.processes[name] = run_platform.start_service(self.args, self.env, name)
        for name in SERVICES:
            await self.ready(name)

    async def ready(self, name: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=3) as http:
            while time.monotonic() < deadline:
                if self.processes[name].poll() is not None:
                    raise RuntimeError(f"{name} exited; see {self.state / 'logs'}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(self.url(name, "/readyz"))).status_code == 200:
                        return
                await asyncio.sleep(0.3)
        raise RuntimeError(f"{name} not ready after {timeout:.0f}s")

    async def kill_and_restart(self, name: str) -> None:
        """SIGKILL, as the kernel's OOM killer or a lost node would: no shutdown code runs."""
        proc = self.processes[name]
        os.kill(proc.pid, signal.SIGKILL)
        await asyncio.to_thread(proc.wait, 30)
        self.processes[name] = run_platform.start_service(self.args, self.env, name)
        await self.ready(name)

    async def stop(self) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.processes.values():
            try:
                await asyncio.to_thread(proc.wait, 40)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextlib.asynccontextmanager
async def private_platform(
    register: Path,
    stock: int,
    root: Path | None = None,
    settings: dict[str, str] | None = None,
    offset: int = OFFSET,
    postgres_settings: tuple[str, ...] = (),
) -> AsyncIterator[PrivatePlatform]:
    """Start broker, database and services (with extra ``settings`` in their environment, on
    ports ``offset`` above the usual, the cluster with ``postgres_settings`` too); stop and
    remove all of them afterwards."""
    root = root or private_root()
    rabbit = PrivateRabbit(root)
    postgres = PrivatePostgres(root, (*PrivatePostgres.SETTINGS, *postgres_settings))
    platform = PrivatePlatform(root, rabbit, postgres, offset=offset)
    try:
        await asyncio.gather(asyncio.to_thread(rabbit.start), asyncio.to_thread(postgres.start))
        await platform.start(register, stock, settings or {})
        yield platform
    finally:
        await platform.stop()
        rabbit.remove()
        postgres.remove()
        shutil.rmtree(root, ignore_errors=True)
