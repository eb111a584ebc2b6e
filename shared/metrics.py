"""Prometheus metrics every service exports, with labels that never carry personal data.

Labels are route templates, event type names, outcomes and status codes: bounded sets.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.metrics import MetricWrapperBase

REGISTRY = CollectorRegistry(auto_describe=True)


class Labelled:
    """One metric's children for a fixed first few label values, each looked up once.

    ``metric.labels(...)`` takes the metric's lock and builds its key on every call; per
    message that cost more than the count itself (ADR 0053). A child is still made on its
    first use, not before, so the exported series are the same as with ``labels``.
    """

    __slots__ = ("_children", "_metric", "_prefix")

    def __init__(self, metric: MetricWrapperBase, *prefix: str) -> None:
        self._metric = metric
        self._prefix = prefix
        self._children: dict[tuple[str, ...], Any] = {}

    def __call__(self, *rest: str) -> Any:
        child = self._children.get(rest)
        if child is None:
            child = self._children[rest] = self._metric.labels(*self._prefix, *rest)
        return child


HTTP_REQUESTS = Counter(
    "care_http_requests_total",
    "HTTP requests answered, by route template and status code.",
    ["service", "method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "care_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
MESSAGES_CONSUMED = Counter(
    "care_messages_consumed_total",
    "Messages taken from a queue, by event type and outcome "
    "(ok, duplicate, waited, retried, dead_lettered, invalid).",
    ["service", "event_type", "outcome"],
    registry=REGISTRY,
)
MESSAGE_HANDLING = Histogram(
    "care_message_handling_seconds",
    "Time from delivery to commit for one consumed message.",
    ["service", "event_type"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
    registry=REGISTRY,
)
GROUP_COMMIT_SIZE = Histogram(
    "care_group_commit_deliveries",
    "Deliveries committed together in one consumer transaction.",
    ["service"],
    buckets=(1, 2, 5, 10, 20, 35, 50),
    registry=REGISTRY,
)
MESSAGES_PUBLISHED = Counter(
    "care_messages_published_total",
    "Events the outbox relay published with a broker confirm, by event type and outcome.",
    ["service", "event_type", "outcome"],
    registry=REGISTRY,
)
OUTBOX_BACKLOG = Gauge(
    "care_outbox_backlog",
    "Outbox rows not yet confirmed by the broker.",
    ["service"],
    registry=REGISTRY,
)
OUTBOX_OLDEST_AGE = Gauge(
    "care_outbox_oldest_age_seconds",
    "Age of the oldest unpublished outbox row (0 when empty).",
    ["service"],
    registry=REGISTRY,
)
INBOX_DUPLICATES = Counter(
    "care_inbox_duplicates_total",
    "Redelivered events the inbox recognised and absorbed without a second effect.",
    ["service", "event_type"],
    registry=REGISTRY,
)
DEAD_LETTERED = Counter(
    "care_messages_dead_lettered_total",
    "Messages this service parked in a dead-letter queue, by reason class.",
    ["service", "queue", "reason"],
    registry=REGISTRY,
)

# --- business and pipeline figures (labels: step and event type names, bounded sets) ---------

REVIEW_QUEUE_ORDERS = Gauge(
    "care_review_queue_orders",
    "Orders referred to customer services and not yet decided.",
    ["service"],
    registry=REGISTRY,
)
REVIEW_QUEUE_OLDEST_AGE = Gauge(
    "care_review_queue_oldest_age_seconds",
    "Time since the longest-waiting referred order was referred (0 when the queue is empty).",
    ["service"],
    registry=REGISTRY,
)
EVENT_LAG = Histogram(
    "care_event_lag_seconds",
    "Time from an event occurring to a consumer handling it, by event type.",
    ["service", "event_type"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 1800.0),
    registry=REGISTRY,
)
ORDER_STEP = Histogram(
    "care_order_step_seconds",
    "Time an order took between two steps of its life (placed_to_verified, "
    "verified_to_dispatched, placed_to_dispatched, dispatched_to_delivered).",
    ["service", "step"],
    # From 50 ms: an order verified automatically moves from placed to verified to
    # dispatched in well under a second, and the steps must not all fall in one bucket.
    buckets=(
        0.05,
        0.1,
        0.25,
        0.5,
        1.0,
        5.0,
        30.0,
        60.0,
        300.0,
        900.0,
        3600.0,
        4 * 3600.0,
        86400.0,
        3 * 86400.0,
        7 * 86400.0,
        14 * 86400.0,
    ),
    registry=REGISTRY,
)

#: CPU, memory and open files of the process: the saturation signal of the golden four.
#: Unlabelled; Prometheus adds the scrape target's `service` label.
PROCESS = ProcessCollector(registry=REGISTRY)

# --- the orders site's waiting room (ADR 0052); every replica reports the shared queue -------

WAITING_ROOM_WAITING = Gauge(
    "care_waiting_room_waiting",
    "Visitors queueing to enter the order journey (the same figure from every replica).",
    ["service"],
    registry=REGISTRY,
)
WAITING_ROOM_ADMITTED = Gauge(
    "care_waiting_room_admitted",
    "Visitors in the order journey now, let in by the waiting room.",
    ["service"],
    registry=REGISTRY,
)
WAITING_ROOM_LIMIT = Gauge(
    "care_waiting_room_limit",
    "The most visitors the waiting room lets into the order journey at once (0: no limit).",
    ["service"],
    registry=REGISTRY,
)
WAITING_ROOM_WAIT = Histogram(
    "care_waiting_room_wait_seconds",
    "Time from joining the waiting room to being let into the order journey.",
    ["service"],
    buckets=(1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0),
    registry=REGISTRY,
)

ORDERS_BY_STATE = Gauge(
    "care_orders",
    "Orders in each open state now (placed, waitlisted, in_review, verified, dispatched), "
    "read from orders' database every 30 s: where orders are stuck. Every replica reports "
    "the same figures: take max.",
    ["service", "state"],
    registry=REGISTRY,
)
