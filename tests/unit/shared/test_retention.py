"""Every service deletes its inbox rows (ids only) after their retention, on its own."""

from services.orders.app import create_app
from shared.periodic import Periodic


def test_every_service_runs_the_inbox_retention_with_its_setting() -> None:
    service = create_app().state.service
    found = [c.name for c in service._components if isinstance(c, Periodic)]
    assert "inbox-retention" in found
    assert service.settings.inbox_retention_days == 7
