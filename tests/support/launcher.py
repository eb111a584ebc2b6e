"""Starting the platform as real processes through the run command, for e2e tests and benchmarks.

Each launch gets its own vhost on the test session's broker, its own databases (a suffix) on
the session's PostgreSQL and its own ports (an offset), so it can run beside a developer's own
platform and never touches the machine's broker or database. :meth:`Launched.stop` sends
Ctrl-C and cleans up.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from scripts.run_platform import SERVICES as PORTS
from tests.support import infra

ROOT = Path(__file__).resolve().parents[2]
SERVICES = tuple(PORTS)


@dataclass
class Launched:
    proc: subprocess.Popen[str]
    state: Path
    offset: int
    vhost: str
    suffix: str
    output: list[str] = field(default_factory=list)

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{PORTS[service] + self.offset}{path}"

    async def interrupt(self, timeout: float = 60) -> int:
        """Ctrl-C, as a person at the terminal would; returns the exit status."""
        os.killpg(self.proc.pid, signal.SIGINT)
        return await asyncio.to_thread(self.proc.wait, timeout)

    async def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                await self.interrupt()
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        await infra.drop_databases([f"care_{n}{self.suffix}" for n in SERVICES])


async def launch(
    state: Path,
    offset: int,
    *extra: str,
    command: tuple[str, ...] = ("bash", "scripts/run.sh"),
    timeout: float = 180,
) -> Launched:
    """Run the platform and return once it says it is running (or fail with its output)."""
    suffix = f"_l{infra.unique_suffix()}"
    vhost, amqp = await infra.claim_vhost()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARE_")}
    proc = subprocess.Popen(
        [
            *command,
            "--state",
            str(state),
            "--port-offset",
            str(offset),
            "--db-suffix",
            suffix,
            "--amqp-url",
            amqp,
            "--postgres-url",
            infra.PG,
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    launched = Launched(proc, state, offset, vhost, suffix)
    lines = _lines_of(proc)
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = await asyncio.to_thread(lines.get, True, left)
        except queue.Empty:
            break
        launched.output.append(line)
        if "platform is running" in line:
            return launched
        if not line:
            break
    await launched.stop()
    raise RuntimeError(
        f"the platform did not start within {timeout:.0f}s:\n" + "".join(launched.output)
    )


def _lines_of(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """The process's output, line by line ("" at its end), read by a thread of its own.

    Reading the pipe directly would wait for ever on a process that stops talking without
    exiting; a queue lets the caller give up at its deadline.
    """
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True, name="launcher-output").start()
    return lines
