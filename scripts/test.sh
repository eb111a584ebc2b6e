#!/usr/bin/env bash
# The test command: installs and starts what is missing, lints, then runs every test.
# Extra arguments go to pytest (e.g. scripts/test.sh tests/unit -x).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/bootstrap.sh --prometheus --check-broker --browser
bash scripts/venv.sh

echo "==> ruff"
.venv/bin/ruff check .
echo "==> mypy"
.venv/bin/mypy shared services
echo "==> pytest"
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
