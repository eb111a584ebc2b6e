"""Item 15 of the privacy audit: the privacy page, docs/privacy.md and the runbook say the same
as the code about how long courier data is kept after the portal closes (ADR 0067)."""

from __future__ import annotations

from pathlib import Path

from services.dispatch.settings import DispatchSettings

ROOT = Path(__file__).resolve().parents[2]


def _flat(path: str) -> str:
    return " ".join((ROOT / path).read_text().split())


def test_every_text_gives_the_courier_data_deadline_the_code_applies() -> None:
    days = DispatchSettings.model_fields["courier_data_days_after_closure"].default
    phrase = f"{days:g} days after the portal closes"
    for path in (
        "services/orders/web/templates/privacy.html",
        "docs/privacy.md",
        "docs/operations.md",
    ):
        text = _flat(path)
        assert phrase in text, f"{path} does not say {phrase!r}"
        assert "whatever the courier" in text, path
    # And nothing says it is kept only while the service is open without the exception.
    page = _flat("services/orders/web/templates/privacy.html")
    assert "never longer than" in page
