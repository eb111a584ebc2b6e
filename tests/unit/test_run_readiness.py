"""The run command says plainly why the broker, the database or a service is not ready."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from scripts import reachability
from scripts.run_platform import NotReady, wait_ready


@pytest.fixture
def silent_port() -> Iterator[int]:
    """Something that accepts connections and never says a word (a wedged broker)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again on leaving: connections are refused


@contextlib.contextmanager
def _answering(first_byte: bytes) -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.recv(8)
                conn.sendall(first_byte)

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def test_a_broker_that_accepts_but_never_answers_is_named_as_such(silent_port: int) -> None:
    said = reachability.probe_broker(f"amqp://guest:guest@127.0.0.1:{silent_port}/", timeout=0.5)
    assert said == (
        f"RabbitMQ at 127.0.0.1:{silent_port} accepted the connection but did not answer "
        "the AMQP handshake within 0.5 s"
    )


def test_a_refused_broker_connection_is_named_as_such(closed_port: int) -> None:
    said = reachability.probe_broker(f"amqp://guest:guest@127.0.0.1:{closed_port}/")
    assert said is not None
    assert said.startswith(f"RabbitMQ at 127.0.0.1:{closed_port} refused the connection")


def test_a_silent_or_refusing_database_is_named_as_such(silent_port: int, closed_port: int) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:{}/care_orders"
    assert reachability.probe_database(url.format(silent_port), timeout=0.5) == (
        f"PostgreSQL at 127.0.0.1:{silent_port} accepted the connection but did not answer "
        "the PostgreSQL handshake within 0.5 s"
    )
    refused = reachability.probe_database(url.format(closed_port))
    assert refused is not None and "refused the connection" in refused


def test_servers_that_answer_their_handshake_pass() -> None:
    with (
        _answering(b"\x01") as broker_port,  # the first byte of a Connection.Start frame
        _answering(b"N") as database_port,  # "no SSL here": an answer all the same
    ):
        _assert_both_pass(broker_port, database_port)


def _assert_both_pass(broker_port: int, database_port: int) -> None:
    assert reachability.probe_broker(f"amqp://127.0.0.1:{broker_port}/") is None
    assert reachability.probe_database(f"postgresql://127.0.0.1:{database_port}/x") is None
    problems = reachability.explain(
        f"amqp://127.0.0.1:{broker_port}/",
        {
            "orders": f"postgresql://127.0.0.1:{database_port}/a",
            "dispatch": "postgresql://127.0.0.1:1/b",
        },
        timeout=0.5,
    )
    assert problems == [
        "PostgreSQL at 127.0.0.1:1 refused the connection (nothing is listening there)"
    ]


def test_not_ready_in_time_says_what_each_service_last_reported() -> None:
    body = json.dumps(
        {"status": "not ready", "checks": {"database": "ok", "broker": "unreachable: TimeoutError"}}
    ).encode()

    class NotReadyYet(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # the name http.server calls
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), NotReadyYet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with pytest.raises(NotReady) as late:
            wait_ready(
                {"orders": alive},
                {"orders": f"http://127.0.0.1:{server.server_address[1]}/readyz"},
                timeout=1,
            )
    finally:
        alive.kill()
        alive.wait()
        server.shutdown()
    assert "not ready after 1s" in str(late.value)
    assert "orders: broker unreachable: TimeoutError" in str(late.value)
