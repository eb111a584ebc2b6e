"""Sampling profiles of the launched services with py-spy, summarised to what costs most.

py-spy attaches to a running process from outside (no code change, low overhead), so the
profile is of the real uvicorn process under the real load. Its collapsed stacks are kept in
bench/results/ and summarised: the share of samples that pass through each of the project's
own functions (inclusive) and the frames where time is spent (self).
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

PY_SPY = Path(sys.executable).with_name("py-spy")


class Profiler:
    def __init__(self, pids: dict[str, int], services: list[str], results: Path, run: str) -> None:
        self.pids = pids
        self.services = [s for s in services if s]
        self.results = results
        self.run = Path(run).stem
        self._running: dict[str, subprocess.Popen[bytes]] = {}

    def path(self, service: str) -> Path:
        return self.results / f"profile-{self.run}-{service}.txt"

    def start(self, duration: float) -> None:
        for name in self.services:
            self._running[name] = subprocess.Popen(
                [
                    str(PY_SPY),
                    "record",
                    "--pid",
                    str(self.pids[name]),
                    "--duration",
                    str(max(5, int(duration))),
                    "--rate",
                    "50",
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--output",
                    str(self.path(name)),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

    def summary(self, top: int = 15) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, proc in self._running.items():
            proc.wait(timeout=600)
            out[name] = summarise(self.path(name), top)
        return out


def summarise(path: Path, top: int) -> dict[str, Any]:
    """Inclusive share per project function, and self share per frame, from collapsed stacks."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return {"error": "py-spy wrote no profile"}
    # py-spy copies frame names as it finds them: a name may hold a newline or bytes that are
    # not UTF-8, so a line that does not end in a count is a piece of one and is skipped.
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[_short(frames[-1])] += count
        for frame in {_short(f) for f in frames if _ours(f)}:
            inclusive[frame] += count

    def share(counter: Counter[str]) -> dict[str, float]:
        return {k: round(100 * v / total, 1) for k, v in counter.most_common(top)} if total else {}

    return {"samples": total, "inclusive_pct": share(inclusive), "self_pct": share(own)}


def _ours(frame: str) -> bool:
    """A frame of the project's own code (py-spy names it relative to the working folder)."""
    where = frame.partition(" (")[2]
    return (
        where.startswith(("services/", "shared/"))
        or "/services/" in where
        or ("/shared/" in where and "site-packages" not in where)
    )


def _short(frame: str) -> str:
    """``handle (shared/messaging/consumer.py:120)`` without the absolute path or line."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for root in ("/services/", "/shared/", "/site-packages/", "/lib/python3.11/"):
        if root in where:
            where = root.strip("/") + "/" + where.split(root, 1)[1]
            break
    return f"{name} ({where.rsplit(':', 1)[0]})"
