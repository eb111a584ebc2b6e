"""scripts/bootstrap.sh never stops, kills or resets a broker or database: they may serve
others. The test command only needs the packages (the tests run their own broker and database)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [ROOT / "scripts" / name for name in ("bootstrap.sh", "run.sh", "test.sh")]

#: What a script must never do to a broker or database it does not own. The bracketed letters
#: keep each pattern from matching its own text when the repository is searched for them.
FORBIDDEN = [
    r"\bp[k]ill\b",
    r"\bkill[a]ll\b",
    r"\bkill\b.*beam",
    r"force[_]reset",
    r"\breset\b",
    r"stop_app",
    r"rabbitmqctl\s+(-\w+\s+)*stop\b",
    r"(add|delete)_vhost",
    r"pg_ctlcluster\s+.*\b(stop|restart)\b",
]


def _code(path: Path) -> str:
    """The script without its comments."""
    return "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())


def test_no_script_kills_resets_or_restarts_a_running_broker_or_database() -> None:
    for script in SCRIPTS:
        code = _code(script)
        found = [pattern for pattern in FORBIDDEN if re.search(pattern, code)]
        assert found == [], (script.name, found)


def test_the_test_command_asks_only_for_the_packages() -> None:
    code = _code(ROOT / "scripts" / "test.sh")
    assert "bootstrap.sh --packages-only" in code


def test_packages_only_starts_and_waits_for_nothing() -> None:
    if not (shutil.which("rabbitmq-server") or Path("/usr/sbin/rabbitmq-server").exists()):
        pytest.skip("rabbitmq-server is not installed; bootstrap would install it")
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "bootstrap.sh"), "--packages-only"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "starting" not in result.stdout and "waiting" not in result.stdout
    assert "nothing started: --packages-only" in result.stdout
