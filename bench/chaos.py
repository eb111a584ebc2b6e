"""The chaos scenario at full size: launch-day load while RabbitMQ, PostgreSQL and every
service fail, then an exact reconciliation (tests/support/chaos.py says what and how).

Starts its own RabbitMQ node and PostgreSQL cluster on free ports in a temporary folder, so
it never touches the machine's own; exits non-zero if anything fails to reconcile.

    .venv/bin/python bench/chaos.py --providers 1000 --window 240 --out bench/results/chaos.json
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.chaos import main

if __name__ == "__main__":
    main()
