"""What the dashboards and alert rules may query, and a PromQL reader good enough to check it.

Shared by the file checks in this folder and by the test that runs a real Prometheus
(tests/integration/test_prometheus_real.py).
"""

from __future__ import annotations

import re

from prometheus_client.metrics_core import Metric

# Modules that register their own metrics on the shared registry when imported: dispatch's
# stock, waitlist and placements, identity's sign-in attempts, the email outbox's.
import services.dispatch.store.gauges
import services.identity.metrics  # noqa: F401
import shared.email.outbox  # noqa: F401
from shared.metrics import REGISTRY

PROMQL_KEYWORDS = {
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "inf",
    "nan",
}

#: Gauges the dispatch service exports (its stock ledger and waitlist), by agreement with the
#: dispatch work: care_stock_units{service,state} with state received|reserved|allocated|
#: available, care_waitlist_orders{service}, care_waitlist_badges{service}.
DISPATCH_GAUGES = {"care_stock_units", "care_waitlist_orders", "care_waitlist_badges"}

#: RabbitMQ's rabbitmq_prometheus plugin, endpoint /metrics/detailed with the families
#: queue_coarse_metrics and queue_consumer_count (scrape job `rabbitmq`).
BROKER_METRICS = {
    "rabbitmq_detailed_queue_messages",
    "rabbitmq_detailed_queue_messages_ready",
    "rabbitmq_detailed_queue_messages_unacked",
    "rabbitmq_detailed_queue_consumers",
}

#: Broker node health from the plugin's aggregated endpoint /metrics (scrape job
#: `rabbitmq-node`): alarms, memory and disk against their limits, the node's identity.
BROKER_NODE_METRICS = {
    "rabbitmq_identity_info",
    "rabbitmq_alarms_memory_used_watermark",
    "rabbitmq_alarms_free_disk_space_watermark",
    "rabbitmq_alarms_file_descriptor_limit",
    "rabbitmq_process_resident_memory_bytes",
    "rabbitmq_resident_memory_limit_bytes",
    "rabbitmq_disk_space_available_bytes",
    "rabbitmq_disk_space_available_limit_bytes",
    "rabbitmq_connections",
    "rabbitmq_channels",
}

#: PostgreSQL by postgres_exporter's names (scrape job `postgres`; on Kubernetes the
#: CloudNativePG PodMonitors rename their cnpg_* metrics to these, deploy/k8s/base/monitoring.yaml).
POSTGRES_METRICS = {
    "pg_up",
    "pg_stat_activity_count",
    "pg_stat_activity_max_tx_duration",
    "pg_settings_max_connections",
    "pg_database_size_bytes",
    "pg_stat_database_xact_commit",
    "pg_stat_database_xact_rollback",
    "pg_stat_database_deadlocks",
    "pg_stat_database_blks_hit",
    "pg_stat_database_blks_read",
}

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
}


def _series_names(family: Metric) -> set[str]:
    return {family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",))}


def service_metrics() -> set[str]:
    """Every series name the services' shared registry can export (labelled or not)."""
    names: set[str] = set()
    for collector in list(REGISTRY._collector_to_names):  # no public listing in the client
        describe = getattr(collector, "describe", None)
        families = describe() if describe else collector.collect()
        for family in families:
            names |= _series_names(family)
    return names


def allowed_metrics() -> set[str]:
    """What a dashboard or alert may name: the services', the broker's, PostgreSQL's, up."""
    return (
        service_metrics()
        | DISPATCH_GAUGES
        | BROKER_METRICS
        | BROKER_NODE_METRICS
        | POSTGRES_METRICS
        | {"up"}
    )


def promql_metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (a PromQL subset good enough for our rules).

    Strings, label matchers, range selectors and grouping clauses are removed first; what is
    left is function and aggregation names (followed by ``(``), keywords, numbers and metric
    names.
    """
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^{}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function or an aggregation
        if word.lower() in PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names
