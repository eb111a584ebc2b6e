"""The envelope every event travels in, and the registry that turns bytes back into events.

Consumers ignore fields they do not know (``extra="ignore"``) so a producer can add a field
without a lock-step release; removing or changing the meaning of a field means a new version.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

EVENTS_EXCHANGE = "care.events"
COURIER_EXCHANGE = "care.courier"


class EventPayload(BaseModel):
    """Base of every event's payload; subclasses name their type, version and route."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    TYPE: ClassVar[str]
    VERSION: ClassVar[int] = 1
    ROUTING_KEY: ClassVar[str]
    EXCHANGE: ClassVar[str] = EVENTS_EXCHANGE
    #: Payload fields that hold personal data: kept out of logs and the reporting store.
    PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset()


P = TypeVar("P", bound=EventPayload)


def _now() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel, Generic[P]):
    """What goes on the wire: identity and provenance of one event plus its payload."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: UUID = Field(default_factory=uuid4)
    type: str
    version: int
    occurred_at: datetime = Field(default_factory=_now)
    correlation_id: str
    payload: P


class UnknownEventType(ValueError):
    """The message names an event type this service has no contract for."""


_REGISTRY: dict[str, type[EventPayload]] = {}


def register(cls: type[P]) -> type[P]:
    """Class decorator: make a payload type known to :func:`parse`."""
    if cls.TYPE in _REGISTRY:
        raise ValueError(f"event type {cls.TYPE} registered twice")
    _REGISTRY[cls.TYPE] = cls
    return cls


def payload_types() -> dict[str, type[EventPayload]]:
    """Every registered payload type by its event type name."""
    return dict(_REGISTRY)


def wrap(payload: P, correlation_id: str) -> Envelope[P]:
    """Put a payload in a fresh envelope carrying the caller's correlation id."""
    typed: Any = Envelope[type(payload)]  # type: ignore[misc]  # parametrised at run time
    return typed(  # type: ignore[no-any-return]
        type=payload.TYPE,
        version=payload.VERSION,
        correlation_id=correlation_id,
        payload=payload,
    )


def parse_as(body: bytes, cls: type[P]) -> Envelope[P]:
    """Validate ``body`` as an envelope of ``cls`` in one pass over the bytes.

    A consumer's queue carries one event type, so the contract is known before the body is
    read: pydantic parses and validates the JSON in one go (no ``json.loads`` first), which
    halved the parse cost per delivery. Raises ``ValueError`` (a ``ValidationError``) if the
    body is not such an envelope, and ``UnknownEventType`` if it names another event.
    """
    envelope: Envelope[P] = Envelope[cls].model_validate_json(body)  # type: ignore[valid-type]
    if envelope.type != cls.TYPE:
        raise UnknownEventType(f"{envelope.type!r} is not {cls.TYPE!r}")
    return envelope


def parse(body: bytes | str | dict[str, Any]) -> Envelope[EventPayload]:
    """Validate a body into a typed envelope; raises ``ValueError`` if it is malformed."""
    raw = body if isinstance(body, dict) else json.loads(body)
    if not isinstance(raw, dict):
        raise ValueError("event body is not a JSON object")
    cls = _REGISTRY.get(str(raw.get("type")))
    if cls is None:
        raise UnknownEventType(f"unknown event type {raw.get('type')!r}")
    return Envelope[cls].model_validate(raw)  # type: ignore[valid-type]
