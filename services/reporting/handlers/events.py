"""Reporting listens to every domain event and turns it into anonymous figures."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting.domain.figures import contributions, day_of
from services.reporting.store import repository
from shared.events import Envelope
from shared.messaging.topology import SUBSCRIPTIONS
from shared.runtime import Service


def register(service: Service) -> None:
    """One handler for every event reporting subscribes to."""

    async def count(session: AsyncSession, event: Envelope[Any]) -> None:
        """Add the event's contribution to the day's figures."""
        day = day_of(event.payload, event.occurred_at)
        for metric, amount in contributions(event.payload):
            await repository.add(session, day, metric, amount)

    for event_type in SUBSCRIPTIONS["reporting"]:
        service.handles(event_type)(count)
