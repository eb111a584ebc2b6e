#!/usr/bin/env bash
# Create .venv with Python 3.11 and install requirements-dev.lock into it: every package at the
# locked version, each file checked against the lock's hashes (--require-hashes), so a changed
# or unlisted package stops the install instead of entering it. A stamp of the lock files' hash
# skips the install when nothing changed. Run by run.sh/test.sh. CARE_VENV names another
# folder for the venv (a throwaway one, to try the install from scratch).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=${CARE_VENV:-.venv}

python_bin=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    python_bin=$candidate; break
  fi
done
if [ -z "$python_bin" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing Python 3.11"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-venv >/dev/null
    python_bin=python3
  else
    echo "Python 3.11 is needed: run 'sudo apt-get install -y python3 python3-venv'" >&2; exit 1
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating $venv"
  "$python_bin" -m venv "$venv"
fi
stamp=$venv/.requirements-$(cat requirements.lock requirements-dev.lock | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "==> installing the locked Python packages (requirements-dev.lock, hashes checked)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --require-hashes \
    -r requirements-dev.lock
  rm -f "$venv"/.requirements-* && touch "$stamp"
fi

bash scripts/assets.sh
