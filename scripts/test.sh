#!/usr/bin/env bash
# Runs all of UCProvision's tests against a private, throw-away PostgreSQL 15 cluster.
#
#   scripts/test.sh                 # swift build && swift test
#   scripts/test.sh --filter Queue  # extra arguments go to `swift test`
#   UCP_TEST_ONLY_PG=1 scripts/test.sh   # only start the cluster, run `select version()`, clean up
#
# Exports for the tests:
#   UCP_TEST_DATABASE_URL  libpq keyword string for the private cluster (superuser, trust auth)
#   UCP_TEST_PG_DIR        the temporary folder holding the cluster (data/, socket, server.log)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_PORT=5432   # the socket lives in a private folder, so the usual port cannot clash

log() { echo "[test] $*"; }
die() { echo "[test] error: $*" >&2; exit 1; }

PG_DIR=""
PG_STARTED=0

if [[ $(id -u) -eq 0 ]]; then
    # initdb and pg_ctl refuse to run as root: run them as the postgres system user.
    id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' system user"
    PG_SUPERUSER=postgres
    as_pg() { runuser -u postgres -- "$@"; }
else
    PG_SUPERUSER=$(id -un)
    as_pg() { "$@"; }
fi

INITDB=$(command -v initdb) || die "initdb not found on PATH"
PG_CTL=$(command -v pg_ctl) || die "pg_ctl not found on PATH"

start_pg() {
    PG_DIR=$(mktemp -d /tmp/ucp-test-pg.XXXXXX)
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$PG_DIR"; fi
    log "initdb in $PG_DIR (superuser $PG_SUPERUSER)"
    # Run from inside the folder so the postgres user never needs access to the caller's cwd.
    (cd "$PG_DIR" && as_pg "$INITDB" -D "$PG_DIR/data" --auth=trust -U "$PG_SUPERUSER" \
        -E UTF8 --locale=C.UTF-8 --no-sync >"$PG_DIR/initdb.log" 2>&1) || {
        cat "$PG_DIR/initdb.log" >&2
        die "initdb failed"
    }
    cat >>"$PG_DIR/data/postgresql.conf" <<CONF

# --- UCProvision test cluster (scripts/test.sh) ---
listen_addresses = ''
unix_socket_directories = '$PG_DIR'
port = $PG_PORT
max_connections = 300
shared_buffers = 128MB
fsync = on
CONF
    log "starting PostgreSQL (socket in $PG_DIR)"
    (cd "$PG_DIR" && as_pg "$PG_CTL" -w -D "$PG_DIR/data" -l "$PG_DIR/server.log" start >/dev/null) || {
        tail -n 30 "$PG_DIR/server.log" >&2 || true
        die "pg_ctl start failed"
    }
    PG_STARTED=1
    export UCP_TEST_DATABASE_URL="host=$PG_DIR port=$PG_PORT user=$PG_SUPERUSER dbname=postgres"
    export UCP_TEST_PG_DIR="$PG_DIR"
    log "UCP_TEST_DATABASE_URL=\"$UCP_TEST_DATABASE_URL\""
}

stop_pg() {
    if [[ -n $PG_DIR ]]; then
        if ((PG_STARTED)); then
            log "stopping PostgreSQL"
            (cd "$PG_DIR" && as_pg "$PG_CTL" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1) || true
            PG_STARTED=0
        fi
        rm -rf -- "$PG_DIR"
        PG_DIR=""
    fi
}

on_exit() {
    local rc=$?
    trap - EXIT
    stop_pg
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cd "$ROOT"
log "checking system packages"
bash "$ROOT/scripts/install-deps.sh"

start_pg

if [[ ${UCP_TEST_ONLY_PG:-0} == 1 ]]; then
    psql "$UCP_TEST_DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -At -c 'select version()'
    log "UCP_TEST_ONLY_PG=1: cluster works, not running swift"
    exit 0
fi

log "swift build"
swift build

log "swift test $*"
# The tests are XCTest; Swift Testing would only add a closing "0 tests" line.
set +e
swift test --disable-swift-testing "$@" 2>&1 | tee "$PG_DIR/swift-test.log"
rc=${PIPESTATUS[0]}
set -e
log "swift test exited with $rc"
# This run's own copy (several runs may go at once); the last one also lands in /tmp for a look after.
TEST_LOG=$(mktemp /tmp/ucp-test-log.XXXXXX)
cp "$PG_DIR/swift-test.log" "$TEST_LOG"
cp "$TEST_LOG" /tmp/ucp-last-test.log 2>/dev/null || true
stop_pg
# One plain closing line: "N passed, N failed", counting tests (a test may fail several assertions).
summary=$(grep -E "Executed [0-9]+ tests?, with [0-9]+ failures?" "$TEST_LOG" | tail -n 1 || true)
if [[ $summary =~ Executed\ ([0-9]+)\ tests? ]]; then
    total=${BASH_REMATCH[1]}
    failed=$(grep -cE "^Test Case '.*' failed \(" "$TEST_LOG" || true)
    echo "$((total - failed)) passed, $failed failed"
elif ((rc == 0)); then
    echo "[test] error: no test summary found" >&2
    rc=1
fi
rm -f "$TEST_LOG"
exit "$rc"
