"""The design's boundaries, checked: services stay apart and say what they publish and consume."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from shared.messaging.topology import SUBSCRIPTIONS
from tests.support.platform import SERVICES, _factory

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_never_imports_another_service(service: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in (ROOT / "services" / service).rglob("*.py")
        for module in imported_modules(path)
        if module.startswith("services.") and not module.startswith(f"services.{service}")
    ]
    assert offenders == []


def test_the_shared_package_imports_no_service() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "shared").rglob("*.py")
        if any(m.startswith("services") for m in imported_modules(path))
    ]
    assert offenders == []


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_same_shape(service: str) -> None:
    folder = ROOT / "services" / service
    for part in ("handlers", "domain", "store", "store/migrations/versions"):
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
