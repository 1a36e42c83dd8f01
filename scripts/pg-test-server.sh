#!/usr/bin/env bash
# A private, throw-away PostgreSQL cluster for tests (and for scripts/new-migration.mjs).
#
#   scripts/pg-test-server.sh start          init (first time) + start; prints the URL on stdout
#   scripts/pg-test-server.sh url            prints the URL (fails when the server is not running)
#   scripts/pg-test-server.sh status         exit 0 when running
#   scripts/pg-test-server.sh createdb [N]   creates a fresh empty database (default polyarch_test_<ts>_<pid>), prints its URL
#   scripts/pg-test-server.sh dropdb N       drops database N (only polyarch_test_* / polyarch_tmp_* names)
#   scripts/pg-test-server.sh stop           stops the server (pg_ctl stop -m fast); the data dir is kept
#   scripts/pg-test-server.sh destroy        stops it and deletes the data dir
#
# Listens on 127.0.0.1 only (plus a unix socket inside its own dir); no systemd, no pg_ctlcluster,
# does not touch the distribution's cluster. Installs PostgreSQL from apt when missing and root.
# Environment: POLYARCH_PG_PORT (55432), POLYARCH_PG_DIR (${TMPDIR:-/tmp}/polyarch-pg-<port>),
#              POLYARCH_PG_BINDIR (auto: /usr/lib/postgresql/<newest>/bin).
# Superuser access is peer/trust over the private unix socket only; TCP needs the polyarch password.
set -euo pipefail

PORT="${POLYARCH_PG_PORT:-55432}"
DIR="${POLYARCH_PG_DIR:-${TMPDIR:-/tmp}/polyarch-pg-${PORT}}"
DATA="$DIR/data"
SOCK="$DIR/sock"
LOG="$DIR/server.log"
PWFILE="$DIR/polyarch.password"
ROLE=polyarch
DB=polyarch

log() { printf 'pg-test-server: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

find_bindir() {
  if [[ -n "${POLYARCH_PG_BINDIR:-}" ]]; then echo "$POLYARCH_PG_BINDIR"; return 0; fi
  local d best=""
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/pg_ctl" && -x "$d/initdb" ]] && best="$d"
  done
  # Prefer 15 (what production uses) when several are installed.
  [[ -x /usr/lib/postgresql/15/bin/pg_ctl ]] && best=/usr/lib/postgresql/15/bin
  [[ -n "$best" ]] && echo "$best"
}

ensure_installed() {
  BIN="$(find_bindir || true)"
  if [[ -n "$BIN" ]]; then return 0; fi
  [[ "$(id -u)" == 0 ]] || die "PostgreSQL is not installed (apt-get install postgresql as root), or set POLYARCH_PG_BINDIR"
  log "installing postgresql from apt"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-cache show postgresql >/dev/null 2>&1; then apt-get update >&2; fi
  apt-get install -y --no-install-recommends postgresql >&2
  BIN="$(find_bindir || true)"
  [[ -n "$BIN" ]] || die "postgresql installed but no /usr/lib/postgresql/*/bin/pg_ctl found"
}

# Run a command as the cluster owner: `postgres` when we are root (initdb refuses root), else ourselves.
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

owner_name() { if [[ "$(id -u)" == 0 ]]; then echo postgres; else id -un; fi; }

running() {
  [[ -n "${BIN:-}" && -f "$DATA/PG_VERSION" ]] || return 1
  as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

psql_super() {
  # Superuser session over the private unix socket; SQL on stdin.
  as_owner "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U "$(owner_name)" -d postgres "$@"
}

password() { cat "$PWFILE"; }

url_for() { printf 'postgresql://%s:%s@127.0.0.1:%s/%s\n' "$ROLE" "$(password)" "$PORT" "$1"; }

init_cluster() {
  log "initialising a private cluster in $DATA"
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  if [[ ! -s "$PWFILE" ]]; then
    (umask 077; od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$PWFILE")
  fi
  rm -rf "$DATA" "$SOCK"
  mkdir -p "$DATA" "$SOCK"
  if [[ "$(id -u)" == 0 ]]; then chown postgres:postgres "$DATA" "$SOCK"; fi
  chmod 700 "$DATA" "$SOCK"
  as_owner "$BIN/initdb" -D "$DATA" -U "$(owner_name)" -E UTF8 --locale=C \
    --auth-local=peer --auth-host=scram-sha-256 >&2
  # Settings for a disposable test server (appended last, so they win).
  as_owner tee -a "$DATA/postgresql.conf" >/dev/null <<EOF

# ---- polyarch test server (scripts/pg-test-server.sh) ----
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SOCK'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
}

cmd_start() {
  ensure_installed
  [[ -f "$DATA/PG_VERSION" ]] || init_cluster
  if running; then
    log "already running on 127.0.0.1:$PORT ($DATA)"
  else
    # A stale pid file after a crash/reboot makes pg_ctl refuse; it is safe to remove when status says stopped.
    rm -f "$DATA/postmaster.pid"
    # The log lives in a dir root owns; open it here and hand the fd to pg_ctl via -l needs owner write access.
    touch "$LOG"; if [[ "$(id -u)" == 0 ]]; then chown postgres "$LOG"; fi
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >&2 \
      || { tail -n 30 "$LOG" >&2 || true; die "server failed to start (log: $LOG)"; }
  fi
  local pw; pw="$(password)"
  psql_super -v pw="$pw" -v role="$ROLE" -v db="$DB" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'role', :'pw')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'role', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
  url_for "$DB"
}

need_running() {
  BIN="$(find_bindir || true)"
  [[ -n "$BIN" ]] || die "PostgreSQL is not installed"
  running || die "not running: run scripts/pg-test-server.sh start"
}

cmd_createdb() {
  need_running
  local name="${1:-polyarch_test_$(date +%s)_$$_${RANDOM}}"
  [[ "$name" =~ ^[a-z_][a-z0-9_]{0,62}$ ]] || die "invalid database name: $name"
  psql_super -v db="$name" -v role="$ROLE" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role') \gexec
SQL
  url_for "$name"
}

cmd_dropdb() {
  need_running
  local name="${1:?usage: pg-test-server.sh dropdb NAME}"
  [[ "$name" =~ ^polyarch_(test|tmp)_[a-z0-9_]{1,50}$ ]] || die "refusing to drop $name (only polyarch_test_* / polyarch_tmp_*)"
  psql_super -v db="$name" <<'SQL'
SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db') \gexec
SQL
}

cmd_stop() {
  BIN="$(find_bindir || true)"
  if [[ -n "$BIN" ]] && running; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2
  else
    log "not running"
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  url) need_running; url_for "$DB" ;;
  status) BIN="$(find_bindir || true)"; if running; then log "running on 127.0.0.1:$PORT"; else log "stopped"; exit 1; fi ;;
  createdb) shift; cmd_createdb "$@" ;;
  dropdb) shift; cmd_dropdb "$@" ;;
  destroy) cmd_stop; rm -rf "$DIR"; log "removed $DIR" ;;
  *) echo "usage: $0 start|stop|url|status|createdb [name]|dropdb name|destroy" >&2; exit 2 ;;
esac
