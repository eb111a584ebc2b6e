"""Putting a copy of someone's data together: complete only when every service answered,
and a page that shows what was held without running anything it holds."""

from datetime import UTC, datetime
from uuid import uuid4

from services.identity.domain.subject_access import CONTRIBUTORS, assemble, render_html

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_the_copy_waits_for_every_service_that_holds_personal_data() -> None:
    own = {"accounts": [{"email": "a@b.example"}]}
    partial = assemble(uuid4(), uuid4(), AT, own, {"orders": {"orders": []}})
    assert not partial["complete"]
    assert partial["waiting_for"] == ["verification", "dispatch"]

    parts = {name: {"t": []} for name in CONTRIBUTORS} | {"stranger": {"x": []}}
    whole = assemble(uuid4(), uuid4(), AT, own, parts)
    assert whole["complete"] and whole["waiting_for"] == []
    # Only the services asked are in the copy, identity's own part first.
    assert list(whole["services"]) == ["identity", *CONTRIBUTORS]


def test_the_page_shows_every_value_and_escapes_what_users_typed() -> None:
    parts = {name: {} for name in CONTRIBUTORS}
    parts["orders"] = {
        "orders": [{"reference": "CB-1", "delivery": {"recipient_name": "<script>x</script>"}}],
        "status_history": [],
    }
    page = render_html(assemble(uuid4(), uuid4(), AT, {"accounts": []}, parts))
    assert "CB-1" in page and "recipient_name: &lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>" not in page
    assert "status_history: nothing held." in page
    assert "This copy is complete." in page
