"""Event contracts: envelopes round-trip, unknown fields are ignored, bad ones refused."""

import json
import uuid

import pytest
from pydantic import ValidationError

from shared.events import OrderCancelled, UnknownEventType, parse, payload_types, wrap
from tests.support.events import order_placed


def test_an_envelope_round_trips_with_its_identity() -> None:
    event = order_placed(quantity=3)
    envelope = wrap(event, "corr-1")
    back = parse(envelope.model_dump_json())
    assert back.event_id == envelope.event_id and back.correlation_id == "corr-1"
    assert back.payload == event and back.type == "OrderPlaced" and back.version == 1


def test_consumers_ignore_fields_they_do_not_know() -> None:
    raw = json.loads(wrap(OrderCancelled(order_id=uuid.uuid4()), "c").model_dump_json())
    raw["payload"]["added_in_a_later_release"] = True
    raw["also_new"] = 1
    assert isinstance(parse(json.dumps(raw)).payload, OrderCancelled)


def test_malformed_events_are_refused() -> None:
    with pytest.raises(UnknownEventType):
        parse(b'{"type": "NoSuchEvent"}')
    with pytest.raises(ValidationError):
        parse(b'{"type": "OrderCancelled", "version": 1, "correlation_id": "c", "payload": {}}')
    with pytest.raises(ValueError):
        parse(b"[1, 2]")


def test_every_event_has_a_unique_routing_key_and_a_version() -> None:
    keys = [cls.ROUTING_KEY for cls in payload_types().values()]
    assert len(keys) == len(set(keys)) == 25
    assert all(cls.VERSION >= 1 for cls in payload_types().values())
