#!/usr/bin/env bash
# The run command: installs and starts RabbitMQ and PostgreSQL if needed, then runs the five
# services as separate processes until Ctrl-C. See README.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/bootstrap.sh
bash scripts/venv.sh
exec .venv/bin/python scripts/run_platform.py "$@"
