#!/usr/bin/env bash
# Write a .env beside docker-compose.yml with fresh local-only secrets, unless one exists.
# Usage: deploy/compose/generate-env.sh [path]   (default: .env at the repository root)
# The file holds secrets: it must never be committed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
target="${1:-$root/.env}"

if [[ -e "$target" ]]; then
  echo "generate-env: $target exists, leaving it alone"
  exit 0
fi
command -v openssl >/dev/null || { echo "generate-env: openssl is needed" >&2; exit 1; }

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
openssl genpkey -algorithm ed25519 -out "$workdir/token.key" 2>/dev/null
openssl pkey -in "$workdir/token.key" -pubout -out "$workdir/token.pub" 2>/dev/null

umask 077
{
  echo "# Local docker compose secrets, generated $(date -u +%Y-%m-%dT%H:%M:%SZ). Never commit."
  echo "CARE_POSTGRES_PASSWORD=$(openssl rand -hex 24)"
  echo "CARE_RABBITMQ_PASSWORD=$(openssl rand -hex 24)"
  echo "CARE_GRAFANA_ADMIN_PASSWORD=$(openssl rand -hex 16)"
  echo "CARE_DISPATCH_COURIER_HMAC_SECRET=$(openssl rand -hex 32)"
  printf 'CARE_TOKEN_PUBLIC_KEY="%s"\n' "$(cat "$workdir/token.pub")"
  printf 'CARE_IDENTITY_TOKEN_PRIVATE_KEY="%s"\n' "$(cat "$workdir/token.key")"
} > "$target"
echo "generate-env: wrote $target"
