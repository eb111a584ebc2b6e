#!/usr/bin/env bash
# Regenerate the lock files from the top-level requirements:
#   requirements.txt     -> requirements.lock      (the image, and the services)
#   requirements-dev.txt -> requirements-dev.lock  (.venv: tests, lint, audit; constrained by
#                                                   requirements.lock, so both lock the same
#                                                   version of every package they share)
# Each lock names every transitive dependency at an exact version with the hashes of all its
# published files, so `pip install --require-hashes` installs exactly what was reviewed and
# refuses a file that changed. Versions already locked are kept unless a top-level pin moved;
# extra arguments go to `uv pip compile`, e.g. `scripts/lock.sh --upgrade-package anyio`.
# uv is installed, at a pinned version, into a throwaway venv: it resolves for Python 3.11 on
# every platform (--universal) whatever this machine runs, and it is not needed to install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

UV_VERSION=0.13.9

tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
"${PYTHON:-python3}" -m venv "$tools"
"$tools/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"

compile() {
  "$tools/bin/uv" pip compile --quiet --universal --python-version 3.11 --generate-hashes \
    --custom-compile-command "scripts/lock.sh" "$@"
}
compile requirements.txt -o requirements.lock "$@"
compile requirements-dev.txt -c requirements.lock -o requirements-dev.lock "$@"
echo "==> requirements.lock and requirements-dev.lock regenerated; review the diff and commit"
