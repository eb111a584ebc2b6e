"""If the test session dies without cleaning up (SIGKILL, a CI timeout), its broker node is
stopped and its folder removed all the same, by the watcher it started."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SESSION = """
import os, signal, subprocess, sys
from pathlib import Path
from tests.support.private_infra import reap_on_exit

root = Path(sys.argv[1])
class Node:  # stands in for the RabbitMQ node: a process whose pid is in rabbit.pid
    root = root / "rabbitmq"
class Cluster:  # stands in for PostgreSQL: what would stop it
    data = root / "pgdata"
    def command(self, *args):
        stopped = str(root.parent / "pg-stopped")
        return [sys.executable, "-c", f"open({stopped!r}, 'w').write('stopped')"]
Node.root.mkdir(parents=True)
Cluster.data.mkdir()
node = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
)
(Node.root / "rabbit.pid").write_text(str(node.pid))
reap_on_exit(root, Node(), Cluster())
print(node.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # no cleanup code of ours runs
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone in all but name
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_a_killed_session_leaves_no_node_running_and_no_folder(tmp_path: Path) -> None:
    root = tmp_path / "care-tests-x"
    session = subprocess.run(
        [sys.executable, "-c", SESSION, str(root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert session.returncode == -9, session.stderr
    node = int(session.stdout.strip())
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (root.exists() or _alive(node)):
        time.sleep(0.1)
    assert not _alive(node)
    assert not root.exists()
    assert (tmp_path / "pg-stopped").read_text() == "stopped"
