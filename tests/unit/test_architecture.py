"""The design's boundaries, checked: services stay apart and say what they publish and consume."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from shared.messaging.topology import SUBSCRIPTIONS
from tests.support.platform import SERVICES, _factory

ROOT = Path(__file__).resolve().parents[2]


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter over the packages under ``root`` with the project's contracts."""
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "lint-imports"),
            "--no-cache",
            "--config",
            str(ROOT / ".importlinter"),
        ],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_import_contracts_hold() -> None:
    """The rules of DEVELOPERS.md (services apart, layers pointing down, no I/O in domain,
    no HTTP in use cases), as CI checks them."""
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "Contracts: 5 kept, 0 broken." in run.stdout


def test_the_import_contracts_catch_a_use_case_reaching_up_into_the_api(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "services", tmp_path / "services")
    shutil.copytree(ROOT / "shared", tmp_path / "shared")
    (tmp_path / "services/orders/usecases/reaching_up.py").write_text(
        "import services.orders.api.orders\n"
    )
    (tmp_path / "services/dispatch/domain/peeking.py").write_text(
        "import services.reporting.domain\n"
    )
    run = lint_imports(tmp_path)
    assert run.returncode == 1
    assert "services.orders.usecases is not allowed to import services.orders.api" in run.stdout
    assert "services.dispatch is not allowed to import services.reporting" in run.stdout


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_same_shape(service: str) -> None:
    folder = ROOT / "services" / service
    for part in ("handlers", "usecases", "domain", "store", "store/migrations/versions"):
        assert (folder / part).is_dir(), f"{service} has no {part}/"
    assert (folder / "api").is_dir() or (folder / "web").is_dir()
    assert (folder / "app.py").is_file() and (folder / "settings.py").is_file()


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_consumes_exactly_its_subscriptions_and_documents_them(service: str) -> None:
    create_app, _ = _factory(service)
    runtime = create_app().state.service
    consumed = {sub.event for sub in runtime.consumers.subscriptions}
    assert consumed == set(SUBSCRIPTIONS[service])

    channels = set(runtime.asyncapi()["channels"])
    assert {sub.queue_name for sub in runtime.consumers.subscriptions} <= channels
    emitted = {f"{key}:{service}" for key in runtime.emitted_routing_keys()}
    assert emitted <= channels


def test_dispatch_documents_the_courier_contract() -> None:
    create_app, _ = _factory("dispatch")
    document = create_app().state.service.asyncapi()
    assert "courier.handoff:dispatch" in document["channels"]
    assert "recipient_name" in str(document["components"])


def test_the_committed_asyncapi_documents_match_the_code() -> None:
    from scripts.asyncapi import documents

    for name, text in documents().items():
        committed = (ROOT / "docs" / "asyncapi" / f"{name}.json").read_text()
        assert committed == text, f"run scripts/asyncapi.py: docs/asyncapi/{name}.json is stale"
