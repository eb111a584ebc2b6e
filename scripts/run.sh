#!/usr/bin/env bash
# The run command: installs and starts RabbitMQ and PostgreSQL if needed, then runs the five
# services as separate processes until Ctrl-C. See README.md.
# Given both --amqp-url and --postgres-url (a broker and a database of the caller's own, as
# the tests do), it only makes sure the packages are installed: the machine's own broker and
# database need not be running, and are not started.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

own_broker=0
own_database=0
for arg in "$@"; do
  case "$arg" in
    --amqp-url | --amqp-url=*) own_broker=1 ;;
    --postgres-url | --postgres-url=*) own_database=1 ;;
  esac
done
if [[ "$own_broker" -eq 1 && "$own_database" -eq 1 ]]; then
  bash scripts/bootstrap.sh --packages-only
else
  bash scripts/bootstrap.sh
fi
bash scripts/venv.sh
exec .venv/bin/python scripts/run_platform.py "$@"
