"""deploy/alertmanager/alertmanager.yml: each team hears its alerts, and an outage is one page.

``amtool`` (Debian package ``prometheus-alertmanager``) checks the file and walks its routing
tree. A real Alertmanager then runs the file's routes and inhibitions unchanged, with each
receiver swapped for a webhook on this machine that records what it is sent: a frozen
service's five alerts must reach people as its one "down" alert, and a broker alarm must mute
the outbox alerts it causes. The tests skip when the tools are missing (bootstrap.sh
--prometheus installs them).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import yaml

from tests.deploy.test_compose_and_k8s import DEPLOY, TEAMS, alert_rules

CONFIG = DEPLOY / "alertmanager" / "alertmanager.yml"
RECEIVERS = {"oncall", "operations", "platform", "customer-services"}


def _tool(*names: str) -> str:
    for name in names:
        if found := shutil.which(name):
            return found
    pytest.skip(f"{names[0]} is not installed (Debian package prometheus-alertmanager)")


def _routes(*labels: str) -> set[str]:
    amtool = _tool("amtool")
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={CONFIG}", *labels],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.strip().split(","))


def test_amtool_accepts_the_config() -> None:
    amtool = _tool("amtool")
    result = subprocess.run(
        [amtool, "check-config", str(CONFIG)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_team_has_a_route_and_critical_alerts_page() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    assert {r["name"] for r in config["receivers"]} == RECEIVERS
    assert config["route"]["group_by"] == ["team", "service"]
    assert _routes("team=operations", "severity=warning", "service=orders") == {"operations"}
    assert _routes("team=operations", "severity=critical", "service=orders") == {
        "oncall",
        "operations",
    }
    assert _routes("team=platform", "severity=critical", "service=rabbitmq") == {
        "oncall",
        "platform",
    }
    assert _routes("team=platform", "severity=warning", "service=postgres") == {"platform"}
    # Customer services are not on call: their critical alerts never page.
    assert _routes("team=customer-services", "severity=critical", "service=dispatch") == {
        "customer-services"
    }
    # Every alert the rules define lands with its own team.
    for name, rule in alert_rules().items():
        labels = rule["labels"]
        routed = _routes(f"team={labels['team']}", f"severity={labels['severity']}")
        assert labels["team"] in routed, name
        assert routed <= {labels["team"], "oncall"}, name
    assert TEAMS <= RECEIVERS


def test_receivers_read_their_secrets_from_files() -> None:
    text = CONFIG.read_text()
    for receiver in yaml.safe_load(text)["receivers"]:
        for kind, configs in receiver.items():
            if kind == "name":
                continue
            for config in configs:
                secrets = {k for k in config if k in {"api_url", "routing_key", "service_key"}}
                assert not secrets, (receiver["name"], secrets)
    assert "/etc/alertmanager/secrets/care-alertmanager-receivers/" in text


# --- a real Alertmanager -----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Inbox:
    """Notifications the webhook receivers got: (receiver, alert names) in arrival order."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], list[dict[str, str]]]] = []
        self.lock = threading.Lock()

    def add(self, body: dict[str, Any]) -> None:
        with self.lock:
            alerts = [a["labels"] for a in body["alerts"]]
            self.received.append((body["receiver"], body["groupLabels"], alerts))


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, _Inbox]]:
    binary = _tool("prometheus-alertmanager", "alertmanager")
    inbox = _Inbox()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            inbox.add(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    work = tmp_path_factory.mktemp("alertmanager")
    config = yaml.safe_load(CONFIG.read_text())
    # The same routes and inhibitions; only the timings shrink and the receivers change.
    config["route"].update(group_wait="1s", group_interval="1s")
    config["receivers"] = [
        {
            "name": r["name"],
            "webhook_configs": [
                {
                    "url": f"http://127.0.0.1:{hook.server_port}/{r['name']}",
                    "send_resolved": False,
                }
            ],
        }
        for r in config["receivers"]
    ]
    (work / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = _free_port()
    log = (work / "alertmanager.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={work / 'alertmanager.yml'}",
            f"--storage.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (work / "alertmanager.log").read_text()
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (work / "alertmanager.log").read_text()
            time.sleep(0.2)
        yield url, inbox
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        hook.shutdown()


def _alert(name: str, **labels: str) -> dict[str, Any]:
    rule = alert_rules()[name]["labels"]
    return {
        "labels": {"alertname": name, **rule, **labels},
        "annotations": {"summary": name},
    }


def _notified(inbox: _Inbox, service: str) -> dict[str, set[str]]:
    """Alert names each receiver was told about for one service."""
    found: dict[str, set[str]] = {}
    with inbox.lock:
        for receiver, _group, alerts in inbox.received:
            for labels in alerts:
                if labels.get("service") == service:
                    found.setdefault(receiver, set()).add(labels["alertname"])
    return found


def _wait_for(condition: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "Alertmanager did not notify in time"
        time.sleep(0.2)
    time.sleep(3)  # anything else it was going to send for these groups has been sent


def test_a_frozen_service_pages_once_and_its_consequences_stay_quiet(
    alertmanager: tuple[str, _Inbox],
) -> None:
    url, inbox = alertmanager
    frozen = [
        _alert("CareServiceDown", service="orders"),
        _alert("CareQueueWithoutConsumers", service="orders"),
        _alert("CareQueueMessagesTooOld", service="orders"),
        _alert("CareQueueBacklogGrowing", service="orders"),
        _alert("CareOutboxStale", service="orders"),
        _alert("CareDeadLetterQueueNotEmpty", service="orders"),
    ]
    response = httpx.post(f"{url}/api/v2/alerts", json=frozen, timeout=10)
    assert response.status_code == 200, response.text
    _wait_for(lambda: {"oncall", "operations"} <= set(_notified(inbox, "orders")))
    assert _notified(inbox, "orders") == {
        "oncall": {"CareServiceDown"},
        "operations": {"CareServiceDown"},
    }
    alerts = httpx.get(f"{url}/api/v2/alerts", timeout=10).json()
    inhibited = {
        a["labels"]["alertname"]
        for a in alerts
        if a["labels"].get("service") == "orders" and a["status"]["inhibitedBy"]
    }
    assert inhibited == {a["labels"]["alertname"] for a in frozen} - {"CareServiceDown"}


def test_a_broker_alarm_mutes_the_outboxes_it_blocks_and_teams_get_their_own(
    alertmanager: tuple[str, _Inbox],
) -> None:
    url, inbox = alertmanager
    alerts = [
        _alert("CareBrokerMemoryAlarm", instance="rabbit-1:15692"),
        _alert("CareOutboxBacklogGrowing", service="identity"),
        _alert("CareOutboxStale", service="dispatch"),
        _alert("CareEmailsParked", service="verification"),
        _alert("CareDatabaseConnectionsNearLimit", instance="care-reporting-db-1:9187"),
    ]
    assert httpx.post(f"{url}/api/v2/alerts", json=alerts, timeout=10).status_code == 200
    _wait_for(
        lambda: (
            "platform" in _notified(inbox, "rabbitmq")
            and "customer-services" in _notified(inbox, "verification")
            and "platform" in _notified(inbox, "postgres")
        )
    )
    assert _notified(inbox, "rabbitmq") == {
        "oncall": {"CareBrokerMemoryAlarm"},
        "platform": {"CareBrokerMemoryAlarm"},
    }
    assert _notified(inbox, "identity") == {}
    assert _notified(inbox, "dispatch") == {}
    assert _notified(inbox, "verification") == {"customer-services": {"CareEmailsParked"}}
    assert _notified(inbox, "postgres") == {"platform": {"CareDatabaseConnectionsNearLimit"}}
