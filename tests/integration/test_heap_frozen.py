"""A started service leaves what startup built out of later garbage collections (ADR 0083)."""

from __future__ import annotations

import gc

import pytest

from tests.support.platform import Platform

pytestmark = pytest.mark.integration


async def test_a_started_service_has_frozen_the_heap_startup_built() -> None:
    """Full collections walk only what was made since: every message's allocations bring
    the next one nearer, and walking the imported modules and schemas each time cost more
    than the consumers' own work per message."""
    async with Platform() as platform:
        await platform.start("reporting")
        assert gc.get_freeze_count() > 0
