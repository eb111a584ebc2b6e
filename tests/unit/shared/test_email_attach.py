"""Components such as the email relay run with the service: started last, stopped first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData

from shared import runtime
from shared.email import EmailRelay, SmtpSender, email_outbox_table
from shared.events import OrderCancelled
from shared.runtime import Component, Service
from shared.settings import ServiceSettings


class Recorder:
    def __init__(self, name: str, log: list[str], *, fail_stop: bool = False) -> None:
        self.name = name
        self.log = log
        self.fail_stop = fail_stop

    def start(self) -> None:
        self.log.append(f"start {self.name}")

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")
        if self.fail_stop:
            raise RuntimeError("stuck")


class FakeBroker:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def connect(self) -> None:
        self.log.append("connect broker")

    async def start(self) -> None:
        self.log.append("start broker")

    async def stop(self) -> None:
        self.log.append("stop broker")


@pytest.fixture
def service(monkeypatch: pytest.MonkeyPatch) -> tuple[Service, list[str]]:
    """A service whose broker and event relay only record what is done to them."""
    log: list[str] = []
    settings = ServiceSettings(service="attach-test", migrate_on_start=False)
    svc = Service(settings, MetaData(), Path("unused"), emits=(OrderCancelled,))
    broker: Any = FakeBroker(log)
    relay: Any = Recorder("outbox relay", log)
    svc.broker = broker
    svc.relay = relay

    async def no_topology(_broker: object) -> None:
        log.append("declare topology")

    monkeypatch.setattr(runtime, "declare_topology", no_topology)
    return svc, log


async def test_attached_components_start_after_the_outbox_relay_and_stop_before_it(
    service: tuple[Service, list[str]],
) -> None:
    svc, log = service
    first = Recorder("first", log)
    assert svc.attach(first) is first
    svc.attach(Recorder("second", log, fail_stop=True))

    await svc.start()
    await svc.stop()

    assert log == [
        "connect broker",
        "declare topology",
        "start broker",
        "start outbox relay",
        "start first",
        "start second",
        "stop second",  # fails: the rest still stop
        "stop first",
        "stop outbox relay",
        "stop broker",
    ]


async def test_a_service_that_emits_nothing_runs_no_outbox_relay(
    service: tuple[Service, list[str]],
) -> None:
    """Reporting emits no events: polling an outbox that stays empty cost it a query every
    half second for nothing."""
    svc, log = service
    svc._publishers.clear()
    await svc.start()
    await svc.stop()
    assert "start outbox relay" not in log


async def test_a_component_attached_to_a_running_service_starts_at_once(
    service: tuple[Service, list[str]],
) -> None:
    svc, log = service
    await svc.start()
    svc.attach(Recorder("late", log))
    await svc.stop()
    assert log[-5:] == [
        "start outbox relay",
        "start late",
        "stop late",
        "stop outbox relay",
        "stop broker",
    ]


def test_the_email_relay_is_a_component(service: tuple[Service, list[str]]) -> None:
    svc, _ = service
    relay: Component = EmailRelay(
        svc.db,
        email_outbox_table(svc.metadata),
        SmtpSender("127.0.0.1", 1025, "care-badges@localhost"),
        svc.name,
    )
    assert svc.attach(relay) is relay
