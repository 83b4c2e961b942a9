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

log() { echo "[test] $*"; }
die() { echo "[test] error: $*" >&2; exit 1; }

# The private cluster: scripts/lib/postgres.sh (shared with scripts/chaos.sh).
pg_log() { log "$@"; }
pg_die() { die "$@"; }
# shellcheck source=lib/postgres.sh
source "$ROOT/scripts/lib/postgres.sh"

start_pg() {
    pg_cluster_create ucp-test-pg
    export UCP_TEST_DATABASE_URL="$PG_URL"
    export UCP_TEST_PG_DIR="$PG_DIR"
    log "UCP_TEST_DATABASE_URL=\"$UCP_TEST_DATABASE_URL\""
}

stop_pg() {
    if [[ -n $PG_DIR ]]; then log "stopping PostgreSQL"; fi
    pg_cluster_destroy
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
