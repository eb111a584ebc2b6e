"""Launch-day load through broker, database and process failures, reconciled to the unit.

Small size for CI (under two minutes on two cores); larger sizes run with
``bench/chaos.py --providers N --window W`` (see bench/README.md).
"""

from __future__ import annotations

import pytest

from tests.support.chaos import run_chaos
from tests.support.reconcile import FINAL_STATES

pytestmark = pytest.mark.integration

PROVIDERS = 120
WINDOW = 50.0


async def test_every_order_reconciles_after_restarts_and_kills() -> None:
    result = await run_chaos(PROVIDERS, WINDOW)
    print(result.reconciliation.report())
    injected = [f["fault"] for f in result.figures["faults"]]
    assert len(injected) == 8, injected
    assert sum("RabbitMQ" in f for f in injected) == 2
    assert sum("PostgreSQL" in f for f in injected) == 1
    assert sum(f.startswith("kill -9") for f in injected) == 5
    counts = result.reconciliation.counts
    assert counts["accepted"] == PROVIDERS, result.figures
    assert sum(counts[s] for s in FINAL_STATES) == counts["accepted"]
    # The faults were felt: requests failed and were tried again, yet nothing was lost.
    retried = result.figures["client_retries_and_errors"]
    assert any("retried" in kind for kind in retried), retried
    assert result.reconciliation.ok, result.reconciliation.report()
