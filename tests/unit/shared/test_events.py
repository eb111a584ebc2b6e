"""Event contracts: envelopes round-trip, unknown fields are ignored, bad ones refused."""

import gc
import json
import uuid
import weakref

import pytest
from pydantic import ValidationError

from shared.events import (
    AccountRegistered,
    OrderCancelled,
    OrderDispatched,
    UnknownEventType,
    UnknownEventVersion,
    parse,
    payload_types,
    wrap,
)
from shared.events.catalogue import AccountRegisteredV1, OrderDispatchedV1
from shared.events.envelope import parse_as
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
    assert len(keys) == len(set(keys)) == 27
    assert all(cls.VERSION >= 1 for cls in payload_types().values())


def test_reporting_receives_no_event_that_carries_personal_data() -> None:
    """ADR 0026: reporting's subscriptions are its own anonymised feed and the later steps of
    an order; none declares a personal field, none has a field that names or locates anyone,
    and none carries a CQC location id or an account id."""
    from shared.messaging.topology import SUBSCRIPTIONS

    forbidden = {
        "email",
        "phone",
        "postcode",
        "contact_name",
        "recipient_name",
        "address",
        "address_line_1",
        "address_line_2",
        "city",
        "delivery",
        "data",
        "account_id",
        "location_id",
        "lines",
        "reference",
    }
    received = SUBSCRIPTIONS["reporting"]
    for event in received:
        assert not event.PERSONAL_FIELDS, event.TYPE
        assert not forbidden & set(event.model_fields), (
            event.TYPE,
            forbidden & set(event.model_fields),
        )
    names = {event.TYPE for event in received}
    for personal in (
        "AccountRegistered",
        "OrderPlaced",
        "AccountDetailsCorrected",
        "SubjectDataProvided",
        "LocationsAuthorised",
        "DeliveryAddressChanged",
    ):
        assert personal not in names


def test_reporting_feed_carries_categories_not_people() -> None:
    from shared.events import AccountKind, OrderPlacedForReporting
    from shared.events.reporting import organisation_type_of_order

    locations = {
        "1-1": {"inspection_category": "Hospice services"},
        "1-2": {"inspection_category": "Residential social care"},
    }
    assert organisation_type_of_order(AccountKind.CQC, [("1-1", 3), ("1-2", 9)], locations) == (
        "Residential care"
    )
    assert organisation_type_of_order(AccountKind.CQC, [("9-9", 3)], locations) == (
        "Other CQC-registered"
    )
    assert set(OrderPlacedForReporting.model_fields) == {
        "order_id",
        "placed_at",
        "quantity",
        "account_kind",
        "organisation_type",
        "region",
        "local_authority",
    }


def test_a_consumer_on_v2_reads_v1_through_its_upcaster_and_v2_as_is() -> None:
    from shared.events import UnknownEventVersion
    from shared.events.envelope import parse_as
    from tests.support.rollout import Probe, ProbeV1, ProbeV3, registered

    order = uuid.uuid4()
    old = wrap(ProbeV1(order_id=order, badges=40), "c-1")
    new = wrap(Probe(order_id=order, quantity=40, parcels=2), "c-2")
    with registered(ProbeV1, Probe, ProbeV3):
        read_old = parse_as(old.model_dump_json().encode(), Probe)
        read_new = parse_as(new.model_dump_json().encode(), Probe)
        assert parse(old.model_dump_json()).payload == ProbeV1(order_id=order, badges=40)
        with pytest.raises(UnknownEventVersion):
            parse_as(wrap(ProbeV3(order_id=order), "c-3").model_dump_json().encode(), Probe)
    assert read_old.payload == Probe(order_id=order, quantity=40, parcels=1)
    assert read_old.event_id == old.event_id and read_old.correlation_id == "c-1"
    assert read_new.payload == Probe(order_id=order, quantity=40, parcels=2)
    assert "RolloutProbe" not in payload_types()  # gone once the test is over


def test_two_versions_of_one_event_are_both_known_and_the_newest_is_the_contract() -> None:
    from shared.events import contract
    from tests.support.rollout import Probe, ProbeV1, registered

    with registered(ProbeV1, Probe):
        assert contract("RolloutProbe", 1) is ProbeV1 and contract("RolloutProbe", 2) is Probe
        assert payload_types()["RolloutProbe"] is Probe


def test_a_version_without_an_upcaster_or_a_retired_one_is_refused_not_crashed() -> None:
    """Both must come out as ValueErrors the consumer parks: a v2 that forgot its upcaster
    (waits for a fixed release), and a v1 no longer registered (never readable again)."""
    from shared.events import UnknownEventVersion
    from shared.events.envelope import parse_as
    from tests.support.rollout import ProbeV1, ProbeV3, registered

    class ProbeV2(ProbeV3):  # no from_previous of its own
        VERSION = 2

    old = wrap(ProbeV1(order_id=uuid.uuid4(), badges=1), "c").model_dump_json().encode()
    with registered(ProbeV1, ProbeV2), pytest.raises(UnknownEventVersion):
        parse_as(old, ProbeV2)
    with registered(ProbeV2), pytest.raises(UnknownEventType) as retired:
        parse_as(old, ProbeV2)
    assert not isinstance(retired.value, UnknownEventVersion)


def test_a_version_1_registration_is_read_as_version_2_without_locations() -> None:
    """During a rollout identity may still send version 1 (its locations follow as a
    LocationsAuthorised); a consumer on version 2 reads it with no locations (ADR 0082)."""
    account_id = uuid.uuid4()
    body = json.dumps(
        {
            "type": "AccountRegistered",
            "version": 1,
            "correlation_id": "c",
            "payload": {"account_id": str(account_id), "kind": "cqc", "email": "a@example.org"},
        }
    ).encode()
    envelope = parse_as(body, AccountRegistered)
    assert envelope.version == 2
    assert envelope.payload.account_id == account_id and envelope.payload.locations == []


def test_a_version_1_consumer_parks_a_registration_that_carries_locations() -> None:
    """A consumer still on version 1 would drop the locations: it refuses version 2, which
    waits in its dead-letter queue until the consumer is upgraded."""
    registered = AccountRegistered(account_id=uuid.uuid4(), kind="cqc", email="a@example.org")
    body = wrap(registered, "c").model_dump_json().encode()
    with pytest.raises(UnknownEventVersion):
        parse_as(body, AccountRegisteredV1)


def test_a_version_1_dispatch_reads_as_one_that_reserved_nothing_with_it() -> None:
    """During a rollout dispatch may still send version 1, whose reservation always had a
    StockReserved of its own: read as version 2, it reserved nothing with the dispatch."""
    order_id = uuid.uuid4()
    body = json.dumps(
        {
            "type": "OrderDispatched",
            "version": 1,
            "correlation_id": "c",
            "payload": {
                "order_id": str(order_id),
                "shipment_reference": "SH-1",
                "parcel_count": 1,
                "quantity": 4,
            },
        }
    ).encode()
    envelope = parse_as(body, OrderDispatched)
    assert envelope.version == 2
    assert envelope.payload.order_id == order_id and envelope.payload.reserved_with_dispatch == 0


def test_a_version_1_consumer_parks_a_dispatch_that_may_carry_a_reservation() -> None:
    """Reporting still on version 1 would count the allocation and miss the reservation: it
    refuses version 2, which waits in its dead-letter queue until reporting is upgraded."""
    dispatched = OrderDispatched(
        order_id=uuid.uuid4(),
        shipment_reference="SH-1",
        parcel_count=1,
        quantity=4,
        reserved_with_dispatch=4,
    )
    body = wrap(dispatched, "c").model_dump_json().encode()
    with pytest.raises(UnknownEventVersion):
        parse_as(body, OrderDispatchedV1)


def test_an_envelope_class_is_built_once_not_after_every_garbage_collection() -> None:
    """pydantic holds ``Envelope[X]`` weakly: a consumer's envelope class was dropped by a full
    collection and built again, schema and validator, by the next message (ADR 0053)."""
    body = wrap(OrderCancelled(order_id=uuid.uuid4()), "c").model_dump_json().encode()
    built = weakref.ref(type(parse_as(body, OrderCancelled)))
    gc.collect()
    assert built() is not None
    assert type(parse_as(body, OrderCancelled)) is built()
