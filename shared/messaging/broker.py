"""A RabbitBroker configured so it cannot silently lose messages (MESSAGING-FACTS.md)."""

from __future__ import annotations

import logging
from typing import Any

from faststream.rabbit import Channel, RabbitBroker
from faststream.rabbit.prometheus import RabbitPrometheusMiddleware

from shared.metrics import REGISTRY
from shared.settings import ServiceSettings


def safe_channel(prefetch: int) -> Channel:
    """Publisher confirms on, returns raise, bounded prefetch: every channel we open is this."""
    return Channel(prefetch_count=prefetch, publisher_confirms=True, on_return_raises=True)


def make_broker(settings: ServiceSettings) -> RabbitBroker:
    return RabbitBroker(
        settings.amqp_url,
        default_channel=safe_channel(settings.prefetch),
        graceful_timeout=settings.graceful_timeout_seconds,
        app_id=f"care-{settings.service}",
        logger=logging.getLogger("faststream"),
        log_level=logging.DEBUG,
        middlewares=(RabbitPrometheusMiddleware(registry=REGISTRY, app_name=settings.service),),
        description=f"CARE badges {settings.service} service",
    )


def publish_options(row: Any) -> dict[str, Any]:
    """AMQP properties for one outbox row: persistent, mandatory, ids for tracing."""
    return {
        "persist": True,
        "mandatory": True,
        "message_id": str(row.event_id),
        "correlation_id": row.correlation_id,
        "content_type": "application/json",
        "message_type": row.event_type,
        "headers": {"event-type": row.event_type},
    }
