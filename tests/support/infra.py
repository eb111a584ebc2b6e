"""The test session's own RabbitMQ node and PostgreSQL cluster, and a fresh world per platform.

The machine's broker and database serve other people and CI, and heavy vhost churn once
wedged that broker (a stuck vhost supervisor, unanswered handshakes) while several platforms
ran its PostgreSQL out of connections. So the tests bring their own: one RabbitMQ node and one
PostgreSQL cluster under a temporary folder, started once per session (in the background as
soon as collection shows a test needs them) and removed at its end, however it ends.

Each platform gets a virtual host of its own and its own five databases, so tests that need a
clean world (stock levels, queue contents) get one without restarting anything. The virtual
hosts are created as the node boots, from a definitions file, and handed out one per
platform: no ``rabbitmqctl`` run (an Erlang VM start apiece) per platform, and none deleted
while tests run; the node goes as a whole at the end.

``PG`` and ``AMQP`` (read as module attributes) are the session's base URLs; reading one
starts the node and cluster if nothing has yet, so benchmarks that import this module work
without pytest.
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.private_infra import (
    PrivatePostgres,
    PrivateRabbit,
    private_root,
    reap_on_exit,
    vhost_definitions,
)

#: Virtual hosts created with the node; another batch is imported if a session needs more.
VHOST_BATCH = 64
#: A scratch cluster: a process crash loses nothing (the OS holds the writes), so skipping
#: fsync only risks what an operating system crash would, and the cluster is thrown away.
POSTGRES_SETTINGS = ("max_connections=400", "fsync=off", "full_page_writes=off")


class SessionInfra:
    """One RabbitMQ node and one PostgreSQL cluster, owned by this test session."""

    def __init__(self) -> None:
        self.root = private_root("care-tests-")
        self._issued = 0
        self._defined = VHOST_BATCH
        self._lock = threading.Lock()
        self.rabbit = PrivateRabbit(
            self.root,
            name="care-tests",
            plugins=("rabbitmq_prometheus",),
            vhosts=[self._vhost_name(i) for i in range(VHOST_BATCH)],
        )
        self.postgres = PrivatePostgres(self.root, POSTGRES_SETTINGS)

    @staticmethod
    def _vhost_name(index: int) -> str:
        return f"care-test-{index:04d}"

    @property
    def amqp(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.rabbit.port}"

    @property
    def pg(self) -> str:
        return self.postgres.url

    def start(self) -> None:
        reap_on_exit(self.root, self.rabbit, self.postgres)
        with ThreadPoolExecutor(2) as pool:
            started = [pool.submit(self.rabbit.start), pool.submit(self.postgres.start)]
            for future in started:
                future.result()

    def stop(self) -> None:
        self.rabbit.remove()
        self.postgres.remove()
        shutil.rmtree(self.root, ignore_errors=True)

    def claim_vhost(self) -> str:
        """A virtual host no platform has used yet (guest may do anything in it)."""
        with self._lock:
            if self._issued == self._defined:
                names = [self._vhost_name(self._defined + i) for i in range(VHOST_BATCH)]
                batch = self.root / f"vhosts-{self._defined}.json"
                batch.write_text(vhost_definitions(names))
                self.rabbit.ctl("import_definitions", str(batch))
                self._defined += VHOST_BATCH
            self._issued += 1
            return self._vhost_name(self._issued - 1)


_executor = ThreadPoolExecutor(1, thread_name_prefix="session-infra")
_booting: Future[SessionInfra] | None = None
_boot_lock = threading.Lock()


def _boot() -> SessionInfra:
    infra = SessionInfra()
    try:
        infra.start()
    except BaseException:
        infra.stop()
        raise
    return infra


def start_in_background() -> None:
    """Begin starting the session's node and cluster, unless that has begun already."""
    global _booting
    with _boot_lock:
        if _booting is None:
            _booting = _executor.submit(_boot)


def current() -> SessionInfra:
    """The session's node and cluster, waiting for them to be up (starting them if needed)."""
    start_in_background()
    assert _booting is not None
    return _booting.result()


def stop() -> None:
    """Stop and remove the node and cluster, if they were started; safe to call twice."""
    global _booting
    with _boot_lock:
        booting, _booting = _booting, None
    if booting is None:
        return
    try:
        infra = booting.result()
    except Exception:
        return  # a failed start cleaned up after itself
    infra.stop()


atexit.register(stop)


def __getattr__(name: str) -> str:
    """``infra.PG`` and ``infra.AMQP``: the session's base URLs (no trailing slash)."""
    if name == "PG":
        return current().pg
    if name == "AMQP":
        return current().amqp
    raise AttributeError(name)


async def claim_vhost() -> tuple[str, str]:
    """A fresh virtual host on the session's node: its name and its AMQP URL."""
    infra = await asyncio.to_thread(current)
    name = await asyncio.to_thread(infra.claim_vhost)
    return name, f"{infra.amqp}/{name}"


async def create_vhost(name: str) -> str:
    """A virtual host named ``name`` (for callers that need a name of their own)."""
    infra = await asyncio.to_thread(current)
    await asyncio.to_thread(infra.rabbit.ctl, "add_vhost", name)
    await asyncio.to_thread(
        infra.rabbit.ctl, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"
    )
    return f"{infra.amqp}/{name}"


async def delete_vhost(name: str) -> None:
    infra = await asyncio.to_thread(current)
    await asyncio.to_thread(infra.rabbit.ctl, "delete_vhost", name)


async def drop_databases(names: list[str]) -> None:
    engine = create_async_engine(f"{current().pg}/postgres", isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        for name in names:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


async def rabbitmqctl(*args: str) -> str:
    """``rabbitmqctl -s ARGS`` against the session's node; its output."""
    infra = await asyncio.to_thread(current)
    return await asyncio.to_thread(infra.rabbit.ctl, *args)


async def queue_backlogs(vhost: str) -> dict[str, int]:
    """Messages in each queue of ``vhost``, ready and unacknowledged together."""
    listed = await rabbitmqctl("list_queues", "-p", vhost, "name", "messages")
    pairs = (line.split("\t") for line in listed.splitlines() if "\t" in line)
    return {name: int(count) for name, count in pairs if count.isdigit()}


def unique_suffix() -> str:
    return uuid.uuid4().hex[:8]
