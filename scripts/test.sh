#!/usr/bin/env bash
# The test command: installs what is missing (Python packages from the hashed lock), audits
# the locked packages for known vulnerabilities, lints, then runs every test.
# The tests start a RabbitMQ node and a PostgreSQL cluster of their own under a temporary
# folder (tests/support/infra.py) and remove them at the end: the machine's broker and
# database need not be running, and are never touched. Only the packages must be installed.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/unit -x).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/bootstrap.sh --packages-only --prometheus --browser
bash scripts/venv.sh

# Fails on a known vulnerability; skips, saying why in one line, when the database is out of reach.
echo "==> pip-audit"
.venv/bin/python scripts/audit.py
echo "==> ruff"
.venv/bin/ruff check .
echo "==> mypy"
.venv/bin/mypy shared services
echo "==> import contracts"
.venv/bin/lint-imports --no-cache
echo "==> pytest"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
