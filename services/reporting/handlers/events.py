"""Reporting listens to its own feed and the later steps of orders, and turns them into
anonymous figures (usecases/projection.py). It subscribes to no event that carries personal
data (ADR 0026)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.usecases import projection
from shared.events import Envelope
from shared.messaging.topology import SUBSCRIPTIONS
from shared.metrics import EVENT_LAG
from shared.runtime import Service


def register(service: Service) -> None:
    """One handler for every event reporting subscribes to."""

    async def count(session: AsyncSession, event: Envelope[Any]) -> None:
        """Add the event's anonymised fact to the log and its change to the figures."""
        await projection.record(session, event, service.name)
        lag = (datetime.now(UTC) - event.occurred_at).total_seconds()
        EVENT_LAG.labels(service.name, event.type).observe(max(lag, 0.0))

    for event_type in SUBSCRIPTIONS["reporting"]:
        service.handles(event_type)(count)
