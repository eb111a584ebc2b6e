"""The envelope every event travels in, and the registry that turns bytes back into events.

Consumers ignore fields they do not know (``extra="ignore"``) so a producer can add a field
without a lock-step release; removing or changing the meaning of a field means a new version.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Self, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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

    @classmethod
    def from_previous(cls, previous: EventPayload) -> Self:
        """This version's payload from the version before it (an upcaster).

        A consumer that has moved to version N still receives version N-1 from producers not
        yet rolled out; each version from 2 up says how to read the one before, so handlers
        only ever see the newest shape.
        """
        raise UnknownEventVersion(f"{cls.TYPE} v{cls.VERSION} cannot read v{previous.VERSION}")


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


class UnknownEventVersion(UnknownEventType):
    """The message is a newer version of its event than this service knows.

    Consumers roll out before producers; a message that arrives the other way round is
    parked, and replayed from its dead-letter queue once the consumer has been upgraded.
    """


_REGISTRY: dict[tuple[str, int], type[EventPayload]] = {}


def register(cls: type[P]) -> type[P]:
    """Class decorator: make one version of a payload type known to :func:`parse`."""
    key = (cls.TYPE, cls.VERSION)
    if key in _REGISTRY:
        raise ValueError(f"event type {cls.TYPE} v{cls.VERSION} registered twice")
    _REGISTRY[key] = cls
    return cls


def payload_types() -> dict[str, type[EventPayload]]:
    """The newest registered version of every event type, by type name."""
    newest: dict[str, type[EventPayload]] = {}
    for (name, _version), cls in sorted(_REGISTRY.items(), key=lambda item: item[0][1]):
        newest[name] = cls
    return newest


def contract(event_type: str, version: int) -> type[EventPayload]:
    """The payload class for one version of one event type."""
    cls = _REGISTRY.get((event_type, version))
    if cls is not None:
        return cls
    known = [v for name, v in _REGISTRY if name == event_type]
    if known and version > max(known):
        raise UnknownEventVersion(f"{event_type!r} has no version {version} here yet")
    # A type we never had, or a retired version: no upgrade will make it readable.
    raise UnknownEventType(f"no contract for {event_type!r} version {version}")


#: ``Envelope[cls]`` for every payload class used so far, held here. pydantic keeps its
#: parametrised classes in a weak cache only, so a class nothing else refers to (a consumer's
#: envelope, or an emitted one that no publisher holds) was dropped at the next full garbage
#: collection and built again, its schema and validator, by the next message (about 8 ms
#: each time); and even a hit in pydantic's cache costs a cache key per call.
_ENVELOPE_TYPES: dict[type[EventPayload], Any] = {}


def envelope_type(cls: type[P]) -> type[Envelope[P]]:
    """``Envelope[cls]``, built once per process and kept."""
    typed = _ENVELOPE_TYPES.get(cls)
    if typed is None:
        typed = _ENVELOPE_TYPES[cls] = Envelope[cls]  # type: ignore[valid-type]
    return typed


def wrap(payload: P, correlation_id: str) -> Envelope[P]:
    """Put a payload in a fresh envelope carrying the caller's correlation id."""
    typed: Any = envelope_type(type(payload))
    return typed(  # type: ignore[no-any-return]
        type=payload.TYPE,
        version=payload.VERSION,
        correlation_id=correlation_id,
        payload=payload,
    )


def parse_as(body: bytes, cls: type[P]) -> Envelope[P]:
    """Validate ``body`` as an envelope of ``cls``, reading an older version through its
    upcasters.

    A consumer's queue carries one event type, so the contract is known before the body is
    read: pydantic parses and validates the JSON in one go (no ``json.loads`` first), which
    halved the parse cost per delivery. Only a body of another version (during a rollout)
    takes the slower road through :func:`contract` and ``from_previous``. Raises
    ``ValueError`` (a ``ValidationError``) if the body is not such an envelope,
    ``UnknownEventType`` if it names another event and ``UnknownEventVersion`` if it is
    newer than ``cls``.
    """
    try:
        envelope: Envelope[P] = envelope_type(cls).model_validate_json(body)
    except ValidationError:
        raw = _json_object(body)
        if raw.get("type") != cls.TYPE or raw.get("version") in (cls.VERSION, None):
            raise
        return _upcast(raw, cls)
    if envelope.type != cls.TYPE:
        raise UnknownEventType(f"{envelope.type!r} is not {cls.TYPE!r}")
    if envelope.version != cls.VERSION:
        return _upcast(_json_object(body), cls)
    return envelope


def _upcast(raw: dict[str, Any], cls: type[P]) -> Envelope[P]:
    """An envelope of another version of ``cls``'s event, read as ``cls``."""
    version = raw.get("version")
    if not isinstance(version, int):
        raise ValueError("version must be a whole number")
    if version > cls.VERSION:
        raise UnknownEventVersion(
            f"{cls.TYPE} v{version} is newer than v{cls.VERSION}, the newest this service reads"
        )
    older = envelope_type(contract(cls.TYPE, version)).model_validate(raw)
    payload: EventPayload = older.payload
    for step in range(version + 1, cls.VERSION + 1):
        payload = contract(cls.TYPE, step).from_previous(payload)
    typed: Any = envelope_type(cls)
    return typed(  # type: ignore[no-any-return]
        **older.model_dump(exclude={"payload", "version"}), version=cls.VERSION, payload=payload
    )


def _json_object(body: bytes | str) -> dict[str, Any]:
    raw = json.loads(body)
    if not isinstance(raw, dict):
        raise ValueError("event body is not a JSON object")
    return raw


def parse(body: bytes | str | dict[str, Any]) -> Envelope[EventPayload]:
    """Validate a body into the envelope of the version it names; raises ``ValueError`` if
    it is malformed and ``UnknownEventType`` if no contract answers to its type and version."""
    raw = body if isinstance(body, dict) else _json_object(body)
    version = raw.get("version")
    # No whole-number version names no contract: refused as an unknown event.
    cls = contract(str(raw.get("type")), version if isinstance(version, int) else 0)
    return envelope_type(cls).model_validate(raw)
