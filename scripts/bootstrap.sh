#!/usr/bin/env bash
# Make RabbitMQ and PostgreSQL available on 127.0.0.1 for local runs and tests (Debian 12).
#
#   scripts/bootstrap.sh [--packages-only] [--browser] [--prometheus]
#
# Idempotent, and a quick no-op when everything is already installed and running:
#   - as root, installs the Debian packages rabbitmq-server and postgresql if missing
#     (one apt-get update at most), starts both servers if they are not running (no systemd
#     needed) and lets the `postgres` role connect over TCP 127.0.0.1 without a password;
#   - as another user, does the same checks and prints the exact command to run as root
#     for whatever is missing, then exits 1;
#   - then waits (at most BOOTSTRAP_WAIT_SECONDS, default 60) for 127.0.0.1:5672 and :5432.
# It never stops, restarts or resets a broker or database that is running: they may serve
# others, and one that does not answer is reported by the run command, not "fixed" here.
# Options:
#   --packages-only  only install the packages (the tests run a broker and a database of
#                 their own from them); start nothing and wait for nothing
#   --browser     also install Debian's chromium if /usr/bin/chromium is missing
#   --prometheus  also install Debian's prometheus (for promtool), prometheus-alertmanager
#                 (amtool) and prometheus-postgres-exporter where missing and, unless
#                 --packages-only, enable RabbitMQ's Prometheus plugin (queue metrics on
#                 127.0.0.1:15692)
set -euo pipefail

export PATH="${PATH}:/usr/local/sbin:/usr/sbin:/sbin"

want_browser=0
want_prometheus=0
packages_only=0
wait_seconds="${BOOTSTRAP_WAIT_SECONDS:-60}"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

for arg in "$@"; do
  case "$arg" in
    --browser) want_browser=1 ;;
    --prometheus) want_prometheus=1 ;;
    --packages-only) packages_only=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bootstrap: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

log() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: %s\n' "$*" >&2; exit 1; }

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# Missing pieces a non-root user must have root fix; reported together at the end.
root_needed=()
need_root() { root_needed+=("$1"); }

apt_updated=0
apt_install() {
  if [[ "$apt_updated" -eq 0 ]]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  log "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

wait_for_port() {
  local port="$1" name="$2" waited=0
  until port_open "$port"; do
    if [[ "$waited" -ge "$wait_seconds" ]]; then
      die "$name is not accepting connections on 127.0.0.1:$port after ${wait_seconds}s"
    fi
    if [[ "$waited" -eq 0 ]]; then log "waiting for $name on 127.0.0.1:$port"; fi
    sleep 1
    waited=$((waited + 1))
  done
}

have_rabbitmq() { command -v rabbitmq-server >/dev/null 2>&1 && command -v rabbitmqctl >/dev/null 2>&1; }
have_postgres() {
  command -v pg_ctlcluster >/dev/null 2>&1 && command -v psql >/dev/null 2>&1 \
    && compgen -G '/etc/postgresql/*/main' >/dev/null
}
# The newest installed major version, e.g. 15 (as `ls /etc/postgresql` shows it).
pg_version() { find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1; }

# --- packages -----------------------------------------------------------------------------
packages=()
have_rabbitmq || packages+=(rabbitmq-server)
have_postgres || packages+=(postgresql)
if [[ "${#packages[@]}" -gt 0 ]]; then
  if is_root; then
    apt_install "${packages[@]}"
    have_rabbitmq || die "rabbitmq-server is still missing after apt-get install"
    have_postgres || die "postgresql is still missing after apt-get install"
  else
    need_root "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${packages[*]}"
  fi
fi

optional=()
if [[ "$want_browser" -eq 1 && ! -x /usr/bin/chromium ]]; then optional+=(chromium); fi
if [[ "$want_prometheus" -eq 1 ]] && ! command -v promtool >/dev/null 2>&1; then
  optional+=(prometheus)
fi
# Alertmanager (amtool and the server the routing tests run) and PostgreSQL's exporter.
if [[ "$want_prometheus" -eq 1 ]] && ! command -v amtool >/dev/null 2>&1; then
  optional+=(prometheus-alertmanager)
fi
if [[ "$want_prometheus" -eq 1 ]] && ! command -v prometheus-postgres-exporter >/dev/null 2>&1; then
  optional+=(prometheus-postgres-exporter)
fi
if [[ "${#optional[@]}" -gt 0 ]]; then
  if is_root; then
    apt_install "${optional[@]}"
  else
    need_root "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${optional[*]}"
  fi
fi

if [[ "$packages_only" -eq 1 ]]; then
  if [[ "${#root_needed[@]}" -gt 0 ]]; then
    echo "bootstrap: missing packages need root. Run, as root:" >&2
    for cmd in "${root_needed[@]}"; do echo "  $cmd" >&2; done
    exit 1
  fi
  log "ready: rabbitmq-server and postgresql are installed (nothing started: --packages-only)"
  exit 0
fi

# --- PostgreSQL -----------------------------------------------------------------------------
if have_postgres; then
  pg_ver="$(pg_version)"
  if port_open 5432; then
    log "postgresql $pg_ver is running"
  elif is_root; then
    log "starting postgresql $pg_ver"
    pg_ctlcluster --skip-systemctl-redirect "$pg_ver" main start
  else
    need_root "pg_ctlcluster --skip-systemctl-redirect $pg_ver main start"
  fi
fi

# --- RabbitMQ's Prometheus plugin (--prometheus) -------------------------------------------
# Queue depth and consumers per queue come from the broker itself (docs/adr/0021). Set up
# before the broker starts, so a fresh broker serves them on loopback only; a broker that is
# already running enables the plugin at once and moves it to loopback at its next restart.
prometheus_plugin_conf="prometheus.tcp.ip = 127.0.0.1"
if [[ "$want_prometheus" -eq 1 ]] && have_rabbitmq && ! port_open 15692; then
  if is_root; then
    if ! grep -qxF "$prometheus_plugin_conf" /etc/rabbitmq/rabbitmq.conf 2>/dev/null; then
      echo "$prometheus_plugin_conf" >> /etc/rabbitmq/rabbitmq.conf
    fi
    if port_open 5672; then
      log "enabling rabbitmq_prometheus"
      rabbitmq-plugins -q enable rabbitmq_prometheus >/dev/null
    else
      rabbitmq-plugins -q enable --offline rabbitmq_prometheus >/dev/null
    fi
  else
    need_root "rabbitmq-plugins enable rabbitmq_prometheus"
  fi
fi

# --- RabbitMQ -------------------------------------------------------------------------------
if have_rabbitmq; then
  if port_open 5672; then
    log "rabbitmq is running"
  elif is_root; then
    log "starting rabbitmq"
    rabbitmq-server -detached
    timeout "$wait_seconds" rabbitmqctl -q await_startup >/dev/null 2>&1 \
      || log "rabbitmqctl await_startup did not confirm; waiting on the port instead"
  else
    need_root "rabbitmq-server -detached"
  fi
fi

if [[ "${#root_needed[@]}" -gt 0 ]]; then
  echo "bootstrap: missing pieces need root. Run, as root:" >&2
  for cmd in "${root_needed[@]}"; do echo "  $cmd" >&2; done
  echo "or run this script as root: sudo $0 $*" >&2
  exit 1
fi

wait_for_port 5432 postgresql
wait_for_port 5672 rabbitmq
if [[ "$want_prometheus" -eq 1 ]]; then wait_for_port 15692 rabbitmq_prometheus; fi

# --- PostgreSQL: the postgres role over TCP 127.0.0.1 without a password --------------------
pg_trust_ok() {
  PGCONNECT_TIMEOUT=5 psql -w -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' \
    >/dev/null 2>&1
}
if pg_trust_ok; then
  log "postgres accepts the postgres role on 127.0.0.1 without a password"
else
  pg_ver="$(pg_version)"
  hba="/etc/postgresql/$pg_ver/main/pg_hba.conf"
  line="host all all 127.0.0.1/32 trust"
  if ! is_root; then
    echo "bootstrap: postgres refuses the postgres role on 127.0.0.1 without a password." >&2
    echo "Run, as root:" >&2
    echo "  sed -i '1i $line' $hba && pg_ctlcluster --skip-systemctl-redirect $pg_ver main reload" >&2
    exit 1
  fi
  if ! grep -qxF "$line" "$hba"; then
    log "adding '$line' at the top of $hba"
    sed -i "1i $line" "$hba"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$pg_ver" main reload
  waited=0
  until pg_trust_ok; do
    [[ "$waited" -lt 10 ]] || die "postgres still refuses the postgres role on 127.0.0.1 (see $hba)"
    sleep 1
    waited=$((waited + 1))
  done
  log "postgres now accepts the postgres role on 127.0.0.1 without a password"
fi

log "ready: rabbitmq on 127.0.0.1:5672, postgresql on 127.0.0.1:5432"
