"""Every service deletes its inbox rows (ids only) after their retention, on its own."""

from datetime import timedelta

from services.orders.app import create_app
from shared.store.retention import InboxRetention


def test_every_service_runs_the_inbox_retention_with_its_setting() -> None:
    service = create_app().state.service
    found = [c for c in service._components if isinstance(c, InboxRetention)]
    assert len(found) == 1
    assert found[0]._keep == timedelta(days=service.settings.inbox_retention_days)
