#!/usr/bin/env bash
# Runs schemathesis (every check) against `ucp serve` and its OpenAPI document, openapi/ucp.yaml:
# installs schemathesis from PyPI when missing, starts a private PostgreSQL, migrates it, makes an
# admin token, starts `ucp serve` on a free loopback port, seeds a few objects so that the generated
# requests reach the handlers, runs `st run` with the admin token and prints its summary. Exit status:
# schemathesis's (0 when every check passed).
#
#   bash scripts/api-check.sh                 # about a minute or two
#   bash scripts/api-check.sh --max-examples 200
#
# Per-operation settings (openapi/schemathesis.toml): the schedule add/edit fields (time zones, start
# times, granular text) are checked by the same code as `ucp schedule add`, which JSON Schema cannot
# express, so a schema-valid body may be refused there with 400; that check is widened for those two
# operations only, and every other check stays on for them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { echo "[api-check] $*"; }
die() { echo "[api-check] error: $*" >&2; exit 1; }

MAX_EXAMPLES=40
while (($#)); do
    case $1 in
        --max-examples) [[ ${2-} =~ ^[0-9]+$ ]] || die "max-examples: must be a whole number (got '${2-}')"; MAX_EXAMPLES=$2; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done

if ! command -v st >/dev/null 2>&1; then
    log "installing schemathesis (pip)"
    python3 -m pip install --quiet schemathesis >&2 || die "pip install schemathesis failed"
fi
ST=$(command -v st || true)
[[ -n $ST ]] || ST="python3 -m schemathesis.cli"

pg_log() { log "$@"; }
pg_die() { die "$@"; }
# shellcheck source=lib/postgres.sh
source "$ROOT/scripts/lib/postgres.sh"

RUN_DIR=$(mktemp -d /tmp/ucp-api-check.XXXXXX)
SERVE_PID=""
cleanup() {
    local rc=$?
    trap - EXIT
    if [[ -n $SERVE_PID ]]; then kill -TERM "$SERVE_PID" 2>/dev/null || true; wait "$SERVE_PID" 2>/dev/null || true; fi
    pg_cluster_destroy
    rm -rf "$RUN_DIR"
    exit "$rc"
}
trap cleanup EXIT

log "swift build --product ucp"
(cd "$ROOT" && swift build --product ucp >&2)
UCP="$ROOT/.build/debug/ucp"

pg_cluster_create ucp-api-check-pg
export DATABASE_URL="$PG_URL"
export UCP_MIGRATIONS_DIR="$ROOT/migrations"
"$UCP" migrate >"$RUN_DIR/migrate.log" 2>&1 || die "ucp migrate failed: $(cat "$RUN_DIR/migrate.log")"

# Objects for the generated requests to find (names the document's examples use).
export UCP_SECRET_KEY_FILE="$RUN_DIR/secret.key"
"$UCP" secret-key generate --file "$UCP_SECRET_KEY_FILE" >/dev/null
printf 'pw\n' | "$UCP" device add --name cucm-lab --kind cucm --address cucm.lab.example --user axl --password-stdin >/dev/null
"$UCP" domain add --name Sales >/dev/null
"$UCP" schedule add --name Nightly --every 1d --builder cp >/dev/null
TOKEN=$("$UCP" token create --name api-check --role admin)
# Orders for the order actions to find (ids 1 and 2: the coverage phase tries the smallest id):
# a failed one (retry, rollback) and a succeeded one (cancel).
psql "$PG_URL" -qAt -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || die "storing the orders failed"
INSERT INTO orders (kind, domain, service_area, user_id, call_processor, line, phone, state, submitted_by) VALUES
  ('add', 'Sales', 'London', 'jdoe', 'cucm-lab', '4000', 'SEP001122334455', 'failed', 'api-check'),
  ('add', 'Sales', 'London', 'asmith', 'cucm-lab', '4001', 'SEP001122334466', 'succeeded', 'api-check');
INSERT INTO order_steps (order_id, position, name, device, call, state) VALUES
  (1, 1, 'user', 'cucm-lab', '[{"operation": "addUser", "values": []}]', 'failed'),
  (2, 1, 'user', 'cucm-lab', '[{"operation": "addUser", "values": []}]', 'done');
SQL

# schemathesis's negative-authentication checks fail on purpose, from the one client address its valid
# requests come from too: with the default throttle (5 free failures) those then get 429 and go
# untested. The throttle itself is covered by RoleMatrixTests.testRepeatedFailuresAreSlowedDown.
"$UCP" serve --listen 127.0.0.1:0 --auth-free-failures 1000000 >"$RUN_DIR/serve.log" 2>&1 &
SERVE_PID=$!
PORT=""
for _ in $(seq 1 300); do
    PORT=$(sed -n 's/.*serving on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$RUN_DIR/serve.log" | head -1)
    [[ -n $PORT ]] && break
    kill -0 "$SERVE_PID" 2>/dev/null || die "ucp serve ended: $(cat "$RUN_DIR/serve.log")"
    sleep 0.1
done
[[ -n $PORT ]] || die "ucp serve did not say where it listens: $(cat "$RUN_DIR/serve.log")"
log "ucp serve on 127.0.0.1:$PORT; schemathesis, every check, $MAX_EXAMPLES examples per operation"

set +e
# The token reaches schemathesis through the environment (its config file's header), never argv.
(cd "$ROOT/openapi" && UCP_API_TOKEN="$TOKEN" $ST --config-file "$ROOT/openapi/schemathesis.toml" run ucp.yaml \
    --url "http://127.0.0.1:$PORT" --checks all --max-examples "$MAX_EXAMPLES" --seed 1 --no-color) >"$RUN_DIR/st.log" 2>&1
rc=$?
set -e
sed -n '/SUMMARY/,$p' "$RUN_DIR/st.log" | sed 's/^/  /'
if ((rc != 0)); then
    log "schemathesis failed (status $rc); its full output:"
    sed 's/^/  /' "$RUN_DIR/st.log" | tail -150
fi
grep -q "$TOKEN" "$RUN_DIR/serve.log" && die "the token appears in the server's log"
# An operation answered mostly 429 was not really exercised.
if grep -qi "rate limited" "$RUN_DIR/st.log"; then
    log "schemathesis was rate limited: $(grep -i "rate limited" "$RUN_DIR/st.log" | head -1)"
    ((rc != 0)) || rc=1
fi
log "api-check: schemathesis status $rc"
exit "$rc"
