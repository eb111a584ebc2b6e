"""Debian's Prometheus scraping the running platform: every dashboard query and alert rule works.

The five services run as processes (the run command) on the test session's own broker and
database, Prometheus scrapes them, that broker's own metrics (queues and node health, its
rabbitmq_prometheus plugin) and PostgreSQL's (Debian's postgres_exporter, pointed at the
tests' server) with the repository's scrape config (addresses rewritten for this machine) and
loads the repository's alert rules. After some orders, a referral, a delivery, a duplicate and
a poison message, every dashboard panel's query and every alert rule is evaluated through
Prometheus's HTTP API: the test fails if one errors or names a metric nothing exports.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import jwt
import pytest
import yaml

from shared.events import wrap
from tests.deploy.promql import promql_metric_names
from tests.support import infra
from tests.support.events import order_placed
from tests.support.journeys import single_location_rows
from tests.support.launcher import SERVICES, Launched, launch
from tests.support.platform import courier_headers, eventually

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PORT_OFFSET = 600
SCRAPE = "2s"


#: Grafana's variables, as a person looking at the last few minutes would have them.
GRAFANA_VARIABLES = {
    "${datasource}": "care-prometheus",
    "$__rate_interval": "1m",
    "$__interval": SCRAPE,
    "$__range": "10m",
    "$service": ".*",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


@dataclass
class Running:
    platform: Launched
    prometheus: str
    personal: set[str]


def scrape_config(
    platform: Launched, rules: Path, broker_metrics: int, exporter_port: int
) -> dict[str, Any]:
    """The repository's prometheus.yml, pointed at this machine's processes, the session's
    broker (its metrics on port ``broker_metrics``), the exporter and the launch's vhost."""
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(
        {"scrape_interval": SCRAPE, "scrape_timeout": SCRAPE, "evaluation_interval": SCRAPE}
    )
    config["rule_files"] = [str(rules)]
    config.pop("alerting", None)  # no Alertmanager here: tests/deploy/test_alertmanager.py
    for job in config["scrape_configs"]:
        for group in job["static_configs"]:
            targets = []
            for target in group["targets"]:
                host, port = target.rsplit(":", 1)
                if host in SERVICES:
                    targets.append(f"127.0.0.1:{int(port) + platform.offset}")
                elif host == "rabbitmq":
                    targets.append(f"127.0.0.1:{broker_metrics}")
                elif host == "postgres-exporter":
                    targets.append(f"127.0.0.1:{exporter_port}")
                else:
                    targets.append(target)
            group["targets"] = targets
        if job["job_name"] == "rabbitmq":
            # Only this launch's queues: the session's broker has every other test's vhosts.
            job["params"]["vhost"] = [platform.vhost]
    return config


@pytest.fixture(scope="module")
async def running(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("Debian's prometheus is not installed (scripts/bootstrap.sh --prometheus)")
    exporter_binary = shutil.which("prometheus-postgres-exporter") or shutil.which(
        "postgres_exporter"
    )
    assert exporter_binary, "postgres_exporter is missing: run scripts/bootstrap.sh --prometheus"
    broker_metrics = infra.current().rabbit.prometheus_port
    assert broker_metrics is not None and _accepts(broker_metrics), (
        "the session's RabbitMQ node does not serve its Prometheus metrics"
    )
    work = tmp_path_factory.mktemp("prometheus")
    platform = await launch(
        work / "state",
        PORT_OFFSET,
        "--initial-stock",
        "2000",
        command=(sys.executable, "scripts/run_platform.py"),
    )
    prometheus: subprocess.Popen[bytes] | None = None
    exporter: subprocess.Popen[bytes] | None = None
    try:
        exporter_port = _free_port()
        server = infra.PG.replace("postgresql+asyncpg://", "postgresql://", 1)
        exporter = subprocess.Popen(
            [exporter_binary, f"--web.listen-address=127.0.0.1:{exporter_port}"],
            env={"DATA_SOURCE_NAME": f"{server}/postgres?sslmode=disable", "PATH": "/usr/bin"},
            stdout=(work / "postgres-exporter.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        rules = work / "alerts.yml"
        shutil.copy(DEPLOY / "prometheus" / "alerts.yml", rules)
        config = work / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(scrape_config(platform, rules, broker_metrics, exporter_port))
        )
        port = _free_port()
        log = (work / "prometheus.log").open("wb")
        prometheus = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={work / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"

        async def ready() -> bool:
            assert prometheus is not None and prometheus.poll() is None, (
                work / "prometheus.log"
            ).read_text()
            try:
                async with httpx.AsyncClient(timeout=2) as http:
                    return (await http.get(f"{url}/-/ready")).status_code == 200
            except httpx.HTTPError:
                return False

        await eventually(ready, timeout=60)
        personal = await drive(platform)
        yield Running(platform, url, personal)
    finally:
        for process in (prometheus, exporter):
            if process is not None:
                process.terminate()
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
        await platform.stop()


def _token(platform: Launched, role: str) -> str:
    """A staff token signed with the launched platform's own key, as identity would issue."""
    key = (platform.state / "keys" / "token-private.pem").read_text()
    now = int(time.time())
    claims = {
        "iss": "care-identity",
        "aud": "care-badges",
        "sub": str(uuid.uuid4()),
        "role": role,
        "kind": "staff",
        "loc": [],
        "iat": now,
        "exp": now + 900,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm="EdDSA")


async def drive(platform: Launched) -> set[str]:
    """Orders over HTTP, a referral, a delivery, a duplicate and a poison message."""
    personal: set[str] = set()
    amqp = await aio_pika.connect_robust(f"{infra.AMQP}/{platform.vhost}")
    async with httpx.AsyncClient(timeout=10) as http:
        for i, site in enumerate(single_location_rows()[40:43]):
            personal |= {site.email, site.postcode, f"Gwendolyn Prometheus{i}"}
            signed_in = await http.post(
                platform.url("identity", "/api/sign-in"),
                json={"email": site.email, "password": site.ods_code},
            )
            token = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
            body = {
                "lines": [{"location_id": site.location_id, "staff_count": 5 + i}],
                "deliver_to_location_id": site.location_id,
                "contact_name": f"Gwendolyn Prometheus{i}",
            }

            # Placed once: orders takes an order straight after sign-in (ADR 0061).
            placed = await http.post(
                platform.url("orders", "/api/orders"), json=body, headers=token
            )
            assert placed.status_code == 201, placed.text
            await http.get(platform.url("orders", "/api/orders/not-an-id"), headers=token)

        channel = await amqp.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await channel.get_exchange("care.events")
        referred = order_placed(quantity=30)  # not CQC-registered: referred to a person
        personal |= {referred.delivery.recipient_name, referred.delivery.postcode}
        body_bytes = wrap(referred, "prometheus-test").model_dump_json().encode()
        for _ in range(2):  # the second copy is a duplicate the inboxes absorb
            await exchange.publish(
                aio_pika.Message(body_bytes, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=referred.ROUTING_KEY,
                mandatory=True,
            )
        await exchange.publish(
            aio_pika.Message(b"{not json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key="order.placed",
            mandatory=True,
        )

        analyst = {"Authorization": f"Bearer {_token(platform, 'dhsc_analyst')}"}
        for path in ("/api/mi/figures", "/api/mi/daily.csv", "/mi"):
            assert (await http.get(platform.url("reporting", path), headers=analyst)).is_success
        reviewer = {"Authorization": f"Bearer {_token(platform, 'customer_service')}"}
        await http.get(platform.url("verification", "/api/reviews"), headers=reviewer)

        courier = await channel.declare_queue("courier.courier.handoff", passive=True)

        async def handoff() -> dict[str, Any] | None:
            message = await courier.get(fail=False, no_ack=True)
            return json.loads(message.body) if message else None

        shipment = (await eventually(handoff, timeout=60))["payload"]["shipment_reference"]
        secret = (platform.state / "courier-hmac-secret").read_text().strip()
        report = json.dumps(
            {
                "shipment_reference": shipment,
                "status": "delivered",
                "occurred_at": datetime.now(UTC).isoformat(),
            }
        ).encode()
        response = await http.post(
            platform.url("dispatch", "/api/courier/status"),
            content=report,
            headers=courier_headers(report, secret),
        )
        assert response.status_code < 300, response.text
    await amqp.close()
    return personal


async def query(running: Running, expr: str, instant: bool = True) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        if instant:
            response = await http.get(f"{running.prometheus}/api/v1/query", params={"query": expr})
        else:
            now = time.time()
            response = await http.get(
                f"{running.prometheus}/api/v1/query_range",
                params={"query": expr, "start": now - 300, "end": now, "step": "15"},
            )
    body: dict[str, Any] = response.json()
    assert response.status_code == 200 and body["status"] == "success", (expr, body)
    return body


async def exported_names(running: Running) -> set[str]:
    async with httpx.AsyncClient(timeout=30) as http:
        body = (await http.get(f"{running.prometheus}/api/v1/label/__name__/values")).json()
    return set(body["data"])


async def _has_data(running: Running, expr: str) -> bool:
    return bool((await query(running, expr))["data"]["result"])


@pytest.fixture(scope="module")
async def scraped(running: Running) -> set[str]:
    """Wait until Prometheus has seen what the drive caused; return the names it holds."""
    for expr in (
        'care_order_step_seconds_count{step="dispatched_to_delivered"}',
        'rabbitmq_detailed_queue_messages{queue=~".+\\\\.dlq"} > 0',
        "care_review_queue_orders > 0",
        "care_inbox_duplicates_total",
        'increase(care_http_requests_total{service="reporting"}[1m]) > 0',
        "pg_up == 1",
        'up{job="rabbitmq-node"} == 1',
    ):
        await eventually(lambda expr=expr: _has_data(running, expr), timeout=90)
    return await exported_names(running)


def _grafana(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def _unknown(names: set[str], exported: set[str]) -> set[str]:
    """Names a query uses that no service or the broker exports."""
    return names - exported


def dashboard_targets() -> list[tuple[str, str, str, bool]]:
    found = []

    def walk(dashboard: str, panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                instant = bool(target.get("instant")) and not target.get("range")
                found.append((dashboard, panel["title"], target["expr"], instant))
            walk(dashboard, panel.get("panels", []))

    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        document = json.loads(path.read_text())
        walk(path.stem, document["panels"])
        for variable in document["templating"]["list"]:
            if variable["type"] == "query":
                found.append((path.stem, variable["name"], variable["query"]["query"], True))
    return found


async def test_every_dashboard_query_runs_on_metrics_the_platform_exports(
    running: Running, scraped: set[str]
) -> None:
    targets = dashboard_targets()
    assert len(targets) >= 40
    unknown: dict[str, set[str]] = {}
    empty = []
    for dashboard, title, expr, instant in targets:
        if expr.startswith("label_values("):
            selector = expr[len("label_values(") : expr.rindex(",")]
            result = await query(running, _grafana(selector))
            assert result["data"]["result"], (dashboard, title)
            names = promql_metric_names(selector)
        else:
            result = await query(running, _grafana(expr), instant=instant)
            names = promql_metric_names(expr)
            if not result["data"]["result"]:
                empty.append(f"{dashboard}: {title}")
        if missing := _unknown(names, scraped):
            unknown[f"{dashboard}: {title}"] = missing
    assert unknown == {}
    # The panels that must show something after this drive do.
    for must in (
        "platform-health: Services up",
        "platform-health: HTTP requests per second",
        "platform-health: Messages consumed per second",
        "platform-health: Messages waiting in each service's queues",
        "platform-health: CPU",
        "order-pipeline: Placed",
        "order-pipeline: Time between steps (median and p95)",
        "order-pipeline: Dead-letter queue depth",
        "order-pipeline: Consumers per queue",
        "order-pipeline: Waiting room: visitors queueing and in the order journey",
        "stock-and-review: Orders awaiting review",
        # Issue 18: a ratio with no errors is 0, and the broker, database and waiting panels.
        "platform-health: HTTP 5xx ratio",
        "platform-health: Broker nodes up",
        "platform-health: Broker alarms",
        "platform-health: Broker memory against its watermark",
        "platform-health: Databases up",
        "platform-health: Connections against max_connections",
        "platform-health: Connections by database and state",
        "platform-health: Sign-in attempts by outcome",
        "order-pipeline: Orders and events waiting at each step now",
    ):
        assert must not in empty, must


async def test_every_alert_rule_loads_evaluates_and_watches_exported_metrics(
    running: Running, scraped: set[str]
) -> None:
    rules_file = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    expected = {r["alert"]: r["expr"] for g in rules_file["groups"] for r in g["rules"]}

    async def loaded() -> dict[str, Any] | None:
        async with httpx.AsyncClient(timeout=30) as http:
            body = (await http.get(f"{running.prometheus}/api/v1/rules")).json()
        rules = {r["name"]: r for g in body["data"]["groups"] for r in g["rules"]}
        evaluated = all(r.get("lastEvaluation", "").startswith("2") for r in rules.values())
        return rules if set(rules) == set(expected) and evaluated else None

    rules = await eventually(loaded, timeout=30)
    unknown = {}
    for name, expr in expected.items():
        assert rules[name]["health"] == "ok", (name, rules[name].get("lastError"))
        await query(running, expr)
        if missing := _unknown(promql_metric_names(expr), scraped):
            unknown[name] = missing
    assert unknown == {}

    active: set[str] = set()
    wanted = {"CareDeadLetterQueueNotEmpty", "CareMessagesDeadLettered"}

    async def alerting() -> bool:
        async with httpx.AsyncClient(timeout=30) as http:
            alerts = (await http.get(f"{running.prometheus}/api/v1/alerts")).json()["data"]
        active.clear()
        active.update(a["labels"]["alertname"] for a in alerts["alerts"])
        return wanted <= active

    # The poison message is parked: both dead-letter alerts see it (pending or firing).
    with contextlib.suppress(AssertionError):
        await eventually(alerting, timeout=60)
    assert wanted <= active, active
    assert "CareServiceDown" not in active


async def test_promtool_accepts_the_rules(running: Running) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with Debian's prometheus package"
    result = await asyncio.to_thread(
        subprocess.run,
        [promtool, "check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def test_no_metric_label_holds_personal_data(running: Running, scraped: set[str]) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        series = (
            await http.get(f"{running.prometheus}/api/v1/series", params={"match[]": '{job=~".+"}'})
        ).json()["data"]
    values = "\n".join(v for labels in series for v in labels.values()).lower()
    assert "reporting" in values and "orderplaced" in values
    assert len(running.personal) >= 8
    assert [p for p in running.personal if p.lower() in values] == []
