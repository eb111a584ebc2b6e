"""What the courier is told (an exact allow-list) and what anonymisation leaves behind."""

from services.dispatch.domain.delivery import (
    COURIER_FIELDS,
    SCRUBBED,
    address_lines,
    handoff,
    is_scrubbed,
)
from services.dispatch.domain.parcels import split
from shared.events import Delivery

DELIVERY = Delivery(
    recipient_name="Ada Lovelace",
    organisation_name="Sunrise Care Home",
    address_line_1="1 High Street",
    address_line_2="",
    city="Leeds",
    postcode="LS1 4AP",
    location_id="1-000000001",
)


def test_handoff_carries_exactly_the_allow_listed_fields() -> None:
    message = handoff("SH-7KQ29XWM", DELIVERY, split(250, 200))
    body = message.model_dump()
    assert set(body) == COURIER_FIELDS
    assert body["recipient_name"] == "Ada Lovelace"
    assert body["postcode"] == "LS1 4AP"
    assert [p["badges"] for p in body["parcels"]] == [200, 50]
    assert "1-000000001" not in message.model_dump_json()


def test_address_lines_drop_blanks_and_keep_the_label_order() -> None:
    assert address_lines(DELIVERY) == ["Sunrise Care Home", "1 High Street", "Leeds"]
    full = DELIVERY.model_copy(update={"address_line_2": "Unit 4 ", "city": ""})
    assert address_lines(full) == ["Sunrise Care Home", "1 High Street", "Unit 4"]


def test_scrubbed_delivery_holds_nothing_personal() -> None:
    assert is_scrubbed(SCRUBBED)
    assert not is_scrubbed(DELIVERY.model_dump())
    assert not is_scrubbed(None)
    assert set(SCRUBBED) == {"anonymised"}
