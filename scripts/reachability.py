"""Whether the broker and the database answer, said in plain words.

"not ready after 90s" leaves a person guessing; these probes say which of the two is at
fault and how: nothing listening (the connection is refused), something listening that never
answers (a wedged broker accepts TCP connections but not the AMQP handshake), or no answer at
all. They speak only the first bytes of each protocol, so they need no credentials.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from urllib.parse import urlsplit

#: The AMQP 0-9-1 protocol header; a broker answers it with a Connection.Start frame.
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
#: PostgreSQL's SSLRequest; a server answers it with one byte, "S" or "N".
POSTGRES_SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")


def _probe(
    what: str, host: str, port: int, hello: bytes, answered: bytes, handshake: str, timeout: float
) -> str | None:
    """None when the server answers ``hello`` as expected, else why not."""
    where = f"{what} at {host}:{port}"
    seconds = f"{timeout:g} s"
    try:
        connection = socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        return f"{where} refused the connection (nothing is listening there)"
    except TimeoutError:
        return f"{where} did not accept the connection within {seconds}"
    except OSError as error:
        return f"{where} could not be reached: {error.strerror or type(error).__name__}"
    with connection:
        try:
            connection.sendall(hello)
            first = connection.recv(1)
        except TimeoutError:
            return (
                f"{where} accepted the connection but did not answer the {handshake} "
                f"within {seconds}"
            )
        except OSError as error:
            return f"{where} accepted the connection, then failed: {error.strerror or error}"
    if not first:
        return f"{where} accepted the connection but closed it without answering the {handshake}"
    if first not in answered:
        return f"{where} answered, but not as {what} does (is something else on that port?)"
    return None


def _host_port(url: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port


def probe_broker(url: str, timeout: float = 10.0) -> str | None:
    """Why the RabbitMQ broker at ``url`` does not answer, or None when it does."""
    host, port = _host_port(url, 5672)
    return _probe("RabbitMQ", host, port, AMQP_HEADER, b"\x01", "AMQP handshake", timeout)


def probe_database(url: str, timeout: float = 10.0) -> str | None:
    """Why the PostgreSQL server at ``url`` does not answer, or None when it does."""
    host, port = _host_port(url, 5432)
    return _probe(
        "PostgreSQL", host, port, POSTGRES_SSL_REQUEST, b"SN", "PostgreSQL handshake", timeout
    )


def explain(amqp_url: str, database_urls: Mapping[str, str], timeout: float = 10.0) -> list[str]:
    """One sentence for each of the broker and the database servers that does not answer."""
    problems = [probe_broker(amqp_url, timeout)]
    servers = {_host_port(url, 5432): url for url in database_urls.values()}
    problems += [probe_database(url, timeout) for url in servers.values()]
    return [problem for problem in problems if problem]
