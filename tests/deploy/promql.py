"""What the dashboards and alert rules may query, and a PromQL reader good enough to check it.

Shared by the file checks in this folder and by the test that runs a real Prometheus
(tests/integration/test_prometheus_real.py).
"""

from __future__ import annotations

import re

from prometheus_client.metrics_core import Metric

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
    """What a dashboard or alert may name: the services', dispatch's gauges, the broker's, up."""
    return service_metrics() | DISPATCH_GAUGES | BROKER_METRICS | {"up"}


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
