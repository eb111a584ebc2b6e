"""Schemathesis against every service's OpenAPI document, with a token for each role and
without one (issue 17, item 10): 0 server errors is the bar.

Each service is served on a real port in this process (its database and broker are the test
platform's), and schemathesis' CLI runs in a subprocess against it: its examples, coverage
(boundary and invalid values for every field) and fuzzing phases, for every operation, with
NUL bytes allowed in strings. The seed is fixed so a failure can be reproduced; CI can widen
the search with CARE_FUZZ_EXAMPLES.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from shared.http.auth import ROLES
from tests.support.keys import mint
from tests.support.mail import free_port
from tests.support.platform import SERVICES, Platform
from tests.support.serve import serving

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
EXAMPLES = os.environ.get("CARE_FUZZ_EXAMPLES", "25")
SEED = "17"


@pytest.fixture(scope="module")
async def served() -> AsyncIterator[dict[str, str]]:
    identity_port = free_port()
    identity_url = f"http://127.0.0.1:{identity_port}"
    async with Platform() as platform:
        await platform.start("identity", uniform_response_seconds=0)
        for name in SERVICES:
            if name in ("orders", "verification", "reporting"):  # they call identity
                await platform.start(name, identity_url=identity_url)
            elif name != "identity":
                await platform.start(name)
        await platform.load_register()
        async with AsyncExitStack() as stack:
            urls = {
                name: await stack.enter_async_context(
                    serving(platform.apps[name][0], identity_port if name == "identity" else None)
                )
                for name in SERVICES
            }
            yield urls


def token_for(role: str) -> str:
    kind = "cqc" if role == "provider" else "staff"
    return mint(role, kind=kind, locations=["1-101641528"] if role == "provider" else [])


async def schemathesis(url: str, role: str, report: Path) -> tuple[int, str]:
    """Run the CLI in the report's folder, where it keeps its cache too."""
    headers = ["-H", f"Authorization: Bearer {token_for(role)}"] if role != "anonymous" else []
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS),
        "run",
        f"{url}/openapi.json",
        *headers,
        "--checks",
        "not_a_server_error",
        "--phases",
        "examples,coverage,fuzzing",
        "--max-examples",
        EXAMPLES,
        "--seed",
        SEED,
        "--generation-allow-x00",
        "true",
        "--generation-database",
        "none",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
        cwd=report.parent,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode(errors="replace")


@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis is in requirements-dev.txt")
@pytest.mark.parametrize("service", SERVICES)
async def test_no_server_error_for_any_role(
    served: dict[str, str], service: str, tmp_path: Path
) -> None:
    failures = {}
    roles = (
        os.environ.get("CARE_FUZZ_ROLES", "").split(",")
        if os.environ.get("CARE_FUZZ_ROLES")
        else [*sorted(ROLES), "anonymous"]
    )
    for role in roles:
        status, output = await schemathesis(served[service], role, tmp_path / f"{role}.xml")
        if status != 0:
            failures[role] = output[-6000:]
    assert not failures, "\n\n".join(f"--- {role}\n{out}" for role, out in failures.items())
