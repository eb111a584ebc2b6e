#!/usr/bin/env bash
# Install the sites' front-end packages (govuk-frontend, and axe-core for the accessibility
# tests) from package-lock.json with `npm ci`; skipped when node_modules matches the lock
# file already. Called by scripts/venv.sh, so by the run and test commands.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing npm"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm >/dev/null
  else
    echo "npm is needed: run 'sudo apt-get install -y npm'" >&2; exit 1
  fi
fi
stamp=node_modules/.care-lock-$(sha256sum package-lock.json | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "==> installing front-end packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi
