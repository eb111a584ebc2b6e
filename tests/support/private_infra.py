"""A RabbitMQ node and a PostgreSQL cluster of our own, to restart and break at will.

The machine's broker and database serve other people and CI, so fault tests never touch
them: these start a second RabbitMQ node and a second PostgreSQL cluster on free ports, with
their data, logs and configuration in a temporary folder, and remove everything on stop.
Only the processes started here are ever signalled, by their own process ids.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout:.0f}s")


def _wait_for_amqp(port: int, timeout: float) -> None:
    """Until the node answers an AMQP 0-9-1 protocol header with its Connection.Start frame
    (the listener opens as boot ends; the handshake proves the broker is serving)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 2) as s:
            s.settimeout(5)
            s.sendall(b"AMQP\x00\x00\x09\x01")
            if s.recv(1) == b"\x01":  # a method frame
                return
        time.sleep(0.3)
    raise RuntimeError(f"the private RabbitMQ node did not serve AMQP within {timeout:.0f}s")


class PrivateRabbit:
    """One RabbitMQ node of our own: its own name, ports, data and an empty plugin list."""

    def __init__(self, root: Path) -> None:
        self.root = root / "rabbitmq"
        self.root.mkdir(parents=True)
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"care-chaos-{self.port}@localhost"
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.root / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(self.root / "rabbit.pid"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def start(self, timeout: float = 120) -> None:
        (self.root / "rabbitmq-env.conf").touch()
        self.proc = subprocess.Popen(
            [str(RABBIT_BIN / "rabbitmq-server")],
            env=self._env(),
            stdout=(self.root / "server.out").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_for_port(self.port, timeout, "the private RabbitMQ node")
        _wait_for_amqp(self.port, timeout)

    def ctl(self, *args: str, timeout: float = 60) -> str:
        """rabbitmqctl against this node (for diagnostics). The CLI must not be given the
        node's ports: it would try to listen on the node's distribution port itself."""
        env = {k: v for k, v in self._env().items() if k not in ("RABBITMQ_DIST_PORT",)}
        result = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, "-q", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        return result.stdout

    def restart(self, hard: bool = False) -> None:
        """Stop the node (SIGTERM: a clean shutdown; SIGKILL when ``hard``) and start it
        again on the same data."""
        self.stop_process(hard)
        self.start()

    def stop_process(self, hard: bool = False) -> None:
        if self.proc is None:
            return
        pid_file = self.root / "rabbit.pid"
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int(pid_file.read_text().strip()), signal.SIGKILL if hard else signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    def remove(self) -> None:
        self.stop_process()
        shutil.rmtree(self.root, ignore_errors=True)


def _postgres_bin() -> Path:
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[4]))
    if not versions:
        raise RuntimeError("PostgreSQL's server programs are not installed")
    return Path(versions[-1])


class PrivatePostgres:
    """One PostgreSQL cluster of our own, run as the postgres user when we are root."""

    def __init__(self, root: Path) -> None:
        self.bin = _postgres_bin()
        self.data = root / "pgdata"
        self.socket_dir = root / "pgsocket"
        self.port = free_port()
        self.log = root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}"

    def _run(self, *args: str, timeout: float = 120) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout)

    def start(self) -> None:
        if not self.data.exists():
            for folder in (self.data, self.socket_dir):
                folder.mkdir(parents=True)
                if os.geteuid() == 0:
                    shutil.chown(folder, "postgres", "postgres")
            self.log.touch()
            if os.geteuid() == 0:
                shutil.chown(self.log, "postgres", "postgres")
            self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        options = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1"
            " -c max_connections=300"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    def restart(self) -> None:
        """An immediate stop (as a crash: recovery replays the WAL) and a start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self.start()

    def remove(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        for folder in (self.data, self.socket_dir):
            shutil.rmtree(folder, ignore_errors=True)
        self.log.unlink(missing_ok=True)


def private_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="care-chaos-"))
    root.chmod(0o755)  # the postgres user must reach its data folder
    return root
