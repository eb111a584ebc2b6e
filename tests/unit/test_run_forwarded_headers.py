"""The run command believes X-Forwarded-For only from a configured proxy (issue 17, item 3):
uvicorn's default would believe any process on the machine, so a spoofed header sent straight
to a page would open a new per-source counter at identity."""

from __future__ import annotations

import pytest

from scripts.run_platform import SERVICES, uvicorn_command


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_no_service_believes_forwarded_headers_unless_a_proxy_is_named(name: str) -> None:
    command = uvicorn_command(name, 8000)
    assert "--no-proxy-headers" in command
    assert "--forwarded-allow-ips" not in command
    assert command[command.index("--host") + 1] == "127.0.0.1"  # no public binding


def test_a_named_proxy_is_believed_by_the_pages_only() -> None:
    for name in ("orders", "verification", "reporting"):
        command = uvicorn_command(name, 8000, "10.1.2.3")
        assert command[-2:] == ["--forwarded-allow-ips", "10.1.2.3"], name
    for name in ("identity", "dispatch"):  # identity keeps its own list
        assert "--no-proxy-headers" in uvicorn_command(name, 8000, "10.1.2.3"), name
