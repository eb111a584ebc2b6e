"""Item 11 of the privacy audit: no table can slip past a copy of someone's data.

Every table of every service (its metadata, plus the outbox and inbox every service has) is
either read by that service's part of a copy or listed as left out with a reason. A new table
fails here until its author decides which, and says why.
"""

from __future__ import annotations

import importlib

import pytest

PRIVACY_MODULES = {
    "identity": "services.identity.store.subject_access",
    "orders": "services.orders.store.privacy",
    "verification": "services.verification.store.privacy",
    "dispatch": "services.dispatch.store.privacy",
    "reporting": "services.reporting.store.privacy",
}


@pytest.mark.parametrize("service", sorted(PRIVACY_MODULES))
def test_every_table_is_in_the_copy_or_left_out_with_a_reason(service: str) -> None:
    tables = importlib.import_module(f"services.{service}.store.tables").metadata.tables
    every = set(tables) | {"outbox", "inbox"}
    privacy = importlib.import_module(PRIVACY_MODULES[service])
    copied, left_out = set(privacy.COPIED), dict(privacy.NOT_IN_THE_COPY)
    assert not copied & set(left_out), f"{service}: both copied and left out"
    assert every - copied - set(left_out) == set(), (
        f"{service}: tables neither in the copy nor left out with a reason"
    )
    assert (copied | set(left_out)) - every == set(), f"{service}: lists tables it has not"
    for table, reason in left_out.items():
        assert len(reason) > 20, f"{service}.{table}: say why it is left out"


def test_the_copy_waits_for_every_service_that_copies_something() -> None:
    from services.identity.domain.subject_access import CONTRIBUTORS

    for service, module in PRIVACY_MODULES.items():
        copies = bool(importlib.import_module(module).COPIED)
        assert (service in CONTRIBUTORS or service == "identity") == copies, service
