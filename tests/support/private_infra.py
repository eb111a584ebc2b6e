"""A RabbitMQ node and a PostgreSQL cluster of our own, to restart and break at will.

The machine's broker and database serve other people and CI, so fault tests never touch
them: these start a second RabbitMQ node and a second PostgreSQL cluster on free ports, with
their data, logs and configuration in a temporary folder, and remove everything on stop.
Only the processes started here are ever signalled, by their own process ids.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(
    port: int, timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening on {port}")
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


def vhost_definitions(names: list[str], with_guest: bool = False) -> str:
    """RabbitMQ definitions (JSON) for ``names``, each open to the guest user.

    A node importing definitions as it boots skips creating its default user, so the boot
    file (``with_guest``) defines guest itself.
    """
    users = [{"name": "guest", "password": "guest", "tags": ["administrator"]}]
    return json.dumps(
        {
            "users": users if with_guest else [],
            "vhosts": [{"name": name} for name in names],
            "permissions": [
                {"user": "guest", "vhost": name, "configure": ".*", "write": ".*", "read": ".*"}
                for name in names
            ],
        }
    )


class PrivateRabbit:
    """One RabbitMQ node of our own: its own name, ports and data.

    ``vhosts`` are created as the node boots, from a definitions file: far cheaper than one
    ``rabbitmqctl add_vhost`` each (an Erlang VM start apiece). ``rabbitmq_prometheus`` in
    ``plugins`` serves the node's metrics on :attr:`prometheus_port`, on loopback only.
    """

    def __init__(
        self,
        root: Path,
        name: str = "care-chaos",
        plugins: tuple[str, ...] = (),
        vhosts: list[str] | None = None,
    ) -> None:
        self.root = root / "rabbitmq"
        self.root.mkdir(parents=True)
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"{name}-{self.port}@localhost"
        (self.root / "enabled_plugins").write_text(f"[{','.join(plugins)}].\n")
        config = [f"listeners.tcp.local = 127.0.0.1:{self.port}", "loopback_users = none"]
        self.prometheus_port: int | None = None
        if "rabbitmq_prometheus" in plugins:
            self.prometheus_port = free_port()
            config += [
                "prometheus.tcp.ip = 127.0.0.1",
                f"prometheus.tcp.port = {self.prometheus_port}",
            ]
        if vhosts:
            definitions = self.root / "definitions.json"
            definitions.write_text(vhost_definitions(["/", *vhosts], with_guest=True))
            config += [
                "definitions.import_backend = local_filesystem",
                f"definitions.local.path = {definitions}",
            ]
        (self.root / "rabbitmq.conf").write_text("\n".join(config) + "\n")
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
        try:
            _wait_for_port(self.port, timeout, "the private RabbitMQ node", self.proc)
            _wait_for_amqp(self.port, timeout)
        except RuntimeError as failed:
            output = (self.root / "server.out").read_text(errors="replace")
            raise RuntimeError(f"{failed}; its output ends:\n{output[-1500:]}") from failed

    def ctl(self, *args: str, timeout: float = 60) -> str:
        """rabbitmqctl against this node. The CLI must not be given the node's ports: it would
        try to listen on the node's distribution port itself.

        Every rabbitmqctl on the machine otherwise listens within one shared range of eleven
        ports (35672-35682); eleven CLIs hung on a wedged broker elsewhere make every other
        one fail with "Distribution failed". So each of ours gets a free port of its own.
        """
        env = {k: v for k, v in self._env().items() if k not in ("RABBITMQ_DIST_PORT",)}
        own = str(free_port())
        env |= {"RABBITMQ_CTL_DIST_PORT_MIN": own, "RABBITMQ_CTL_DIST_PORT_MAX": own}
        try:
            result = subprocess.run(
                [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, "-q", *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=True,
            )
        except subprocess.CalledProcessError as failed:
            said = (failed.stderr or failed.stdout or "").strip()[-600:]
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {said}") from failed
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

    SETTINGS: tuple[str, ...] = ("max_connections=300",)

    def __init__(self, root: Path, settings: tuple[str, ...] = SETTINGS) -> None:
        self.bin = _postgres_bin()
        self.data = root / "pgdata"
        self.socket_dir = root / "pgsocket"
        self.port = free_port()
        self.log = root / "postgres.log"
        self.settings = settings

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}"

    def command(self, *args: str) -> list[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        return command

    def _run(self, *args: str, timeout: float = 120) -> None:
        subprocess.run(self.command(*args), check=True, capture_output=True, timeout=timeout)

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
        options = " ".join(
            [
                f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1",
                *(f"-c {setting}" for setting in self.settings),
            ]
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


def private_root(prefix: str = "care-chaos-") -> Path:
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)  # the postgres user must reach its data folder
    return root


_REAPER = """
import json, os, shutil, signal, subprocess, sys
rabbit_pid_file, postgres_stop, root = json.loads(sys.argv[1])
sys.stdin.buffer.read()  # returns when the process that started us is gone, however it went
try:
    os.kill(int(open(rabbit_pid_file).read().strip()), signal.SIGKILL)
except (OSError, ValueError):
    pass
if os.path.isdir(os.path.join(root, "pgdata")):
    subprocess.run(postgres_stop, capture_output=True, timeout=60)
shutil.rmtree(root, ignore_errors=True)
"""


def reap_on_exit(root: Path, rabbit: PrivateRabbit, postgres: PrivatePostgres) -> None:
    """Leave nothing running if this process dies without cleaning up (SIGKILL, a CI
    timeout): a small watcher of its own notices our end of a pipe close and then stops the
    node and the cluster (by their pid file and data folder) and removes ``root``.

    After a clean stop there is nothing left for it to find. The pipe's write end is not
    inherited by the processes we start, so only our own exit closes it.
    """
    stop = postgres.command("pg_ctl", "-D", str(postgres.data), "-m", "immediate", "-w", "stop")
    reaper = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _REAPER,
            json.dumps([str(rabbit.root / "rabbit.pid"), stop, str(root)]),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C at the terminal must not stop it before it works
    )
    # Kept open for the rest of our life on purpose: its closing is the signal.
    _reapers.append(reaper)


_reapers: list[subprocess.Popen[bytes]] = []
