"""Versioned event contracts: import events from here."""

from shared.events.catalogue import *  # noqa: F403
from shared.events.catalogue import __all__ as _catalogue_all
from shared.events.envelope import (
    COURIER_EXCHANGE,
    EVENTS_EXCHANGE,
    Envelope,
    EventPayload,
    UnknownEventType,
    UnknownEventVersion,
    contract,
    parse,
    payload_types,
    wrap,
)
from shared.events.reporting import AccountRegisteredForReporting, OrderPlacedForReporting

__all__ = [
    "COURIER_EXCHANGE",
    "EVENTS_EXCHANGE",
    "Envelope",
    "EventPayload",
    "UnknownEventType",
    "UnknownEventVersion",
    "contract",
    "parse",
    "payload_types",
    "wrap",
    "AccountRegisteredForReporting",
    "OrderPlacedForReporting",
    *_catalogue_all,
]
