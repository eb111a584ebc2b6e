"""The validator every API field and form field goes through (issue 17, item 4)."""

from __future__ import annotations

import json

from shared.http.text import NUL_MESSAGE, SURROGATE_MESSAGE, unstorable, unstorable_fields


def test_nul_and_lone_surrogates_are_unstorable_and_real_text_is_not() -> None:
    assert unstorable("Sam\x00") == NUL_MESSAGE
    assert unstorable(json.loads('"Sam\\ud800"')) == SURROGATE_MESSAGE
    for fine in ("Sam Carer", "Zoë O'Brien\t\n", "🙂 emoji pairs", "\x01\x1f", ""):
        assert unstorable(fine) is None, fine


def test_every_place_in_a_json_document_is_named_by_its_path() -> None:
    document = json.loads(
        '{"contact_name": "a\\u0000", "lines": [{"location_id": "ok"}, {"location_id": "\\udfff"}],'
        ' "details": {"k\\u0000": "v"}, "staff_count": 3}'
    )
    assert dict(unstorable_fields(document)) == {
        "contact_name": NUL_MESSAGE,
        "lines.1.location_id": SURROGATE_MESSAGE,
        "details.k\x00": f"(a key) {NUL_MESSAGE}",
    }
    assert list(unstorable_fields(["\x00"])) == [("0", NUL_MESSAGE)]
    assert list(unstorable_fields("\x00")) == [("body", NUL_MESSAGE)]
