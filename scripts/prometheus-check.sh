#!/usr/bin/env bash
# The Prometheus acceptance check (issue 12, item 5): a real Prometheus (Debian's `prometheus`)
# scrapes a coordinator and a worker, both started with --metrics-listen, while the worker drains N
# no-op orders from a private PostgreSQL; then a PromQL query through Prometheus' HTTP API must
# give the same number of finished jobs as the queue itself, and the coordinator's queue depth
# gauge must come back to 0 queued orders. Where the build has `ucp serve`, Prometheus scrapes it too
# (with a viewer token) and it must be up. Prints the figures and exactly
#   prometheus: queue_finished=… promql_finished=… queue_depth_queued=… serve_up=1|none PASS|FAIL
# and exits non-zero on FAIL.
#
#   scripts/prometheus-check.sh            # 2000 orders of 50 ms (about 20 s after the build)
#   scripts/prometheus-check.sh --jobs N   # another count
#   options: --keep (keep the logs folder; a failed run keeps it too)
#
# Everything listens on loopback (127.0.0.1) ports chosen free at the start; Prometheus gets a
# configuration and a data folder of its own in a temporary folder, a 1 s scrape interval, and is
# stopped with everything else on exit. Installs `prometheus` with apt-get when it is missing.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { echo "[prometheus] $*"; }
die() { echo "[prometheus] error: $*" >&2; exit 1; }

JOBS=2000
KEEP=0
while (($#)); do
    case $1 in
        --jobs) [[ ${2-} =~ ^[0-9]+$ ]] && (($2 >= 1)) || die "--jobs: must be a whole number, 1 or more (got '${2-}')"
                JOBS=$2; shift ;;
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "$1: unknown option (see --help)" ;;
    esac
    shift
done

cd "$ROOT"
command -v psql >/dev/null || die "psql not found on PATH"
command -v curl >/dev/null || die "curl not found on PATH"
if ! command -v prometheus >/dev/null; then
    log "installing prometheus (Debian)"
    as_root=()
    [[ $(id -u) -eq 0 ]] || as_root=(sudo)
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    # The package starts its own service where an init system runs; this check runs its own.
    "${as_root[@]}" service prometheus stop >/dev/null 2>&1 || true
fi
log "swift build --product ucp"
swift build --product ucp >&2
UCP="$ROOT/.build/debug/ucp"

pg_log() { log "$@"; }
pg_die() { die "$@"; }
# shellcheck source=lib/postgres.sh
source "$ROOT/scripts/lib/postgres.sh"

RUN_DIR=$(mktemp -d /tmp/ucp-prometheus.XXXXXX)
PIDS=()
RESULT=1
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    pg_cluster_destroy
    if ((KEEP)) || ((rc != 0)) || ((RESULT != 0)); then log "logs kept in $RUN_DIR"; else rm -rf -- "$RUN_DIR"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
wait_for() { # wait_for SECONDS WHAT COMMAND…: polls COMMAND every 0.2 s
    local seconds=$1 what=$2; shift 2
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "$what did not happen within ${seconds}s (logs: $RUN_DIR)"
        sleep 0.2
    done
}

pg_cluster_create ucp-prometheus-pg
export DATABASE_URL="$PG_URL"
export UCP_MIGRATIONS_DIR="$ROOT/migrations"
export UCP_LOG_LEVEL=info
"$UCP" migrate >"$RUN_DIR/migrate.log" 2>&1 || { cat "$RUN_DIR/migrate.log" >&2; die "ucp migrate failed"; }
sql() { psql "$PG_URL" -X -q -v ON_ERROR_STOP=1 -At "$@"; }

COORDINATOR_PORT=$(free_port)
WORKER_PORT=$(free_port)
PROMETHEUS_PORT=$(free_port)
"$UCP" coordinator --name prom-coordinator --gauge-interval 1s --metrics-listen "127.0.0.1:$COORDINATOR_PORT" \
    >"$RUN_DIR/coordinator.log" 2>&1 &
PIDS+=($!)
"$UCP" worker --stand-in-jobs --name prom-worker --concurrency 20 --log-format json \
    --metrics-listen "127.0.0.1:$WORKER_PORT" >"$RUN_DIR/worker.log" 2>&1 &
PIDS+=($!)
wait_for 60 "the coordinator's /healthz" curl -sf "http://127.0.0.1:$COORDINATOR_PORT/healthz"
wait_for 60 "the worker's /healthz" curl -sf "http://127.0.0.1:$WORKER_PORT/healthz"

# `ucp serve` too, where this build has it: its /metrics needs a viewer token, which Prometheus
# reads from a file (credentials_file), never from its command line.
SERVE_PORT=""
SERVE_JOB=""
if "$UCP" serve --help 2>/dev/null | grep -q '^USAGE: ucp serve'; then
    SERVE_PORT=$(free_port)
    (umask 077 && "$UCP" token create --name prometheus-check --role viewer --actor prometheus-check >"$RUN_DIR/serve.token")
    "$UCP" serve --listen "127.0.0.1:$SERVE_PORT" >"$RUN_DIR/serve.log" 2>&1 &
    PIDS+=($!)
    wait_for 60 "serve's /healthz" curl -sf "http://127.0.0.1:$SERVE_PORT/healthz"
    SERVE_JOB="
  - job_name: ucp-serve
    authorization: {type: Bearer, credentials_file: $RUN_DIR/serve.token}
    static_configs: [{targets: [\"127.0.0.1:$SERVE_PORT\"]}]"
else
    log "this build has no 'ucp serve': Prometheus scrapes the worker and the coordinator only"
fi

cat >"$RUN_DIR/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ucp-worker
    static_configs: [{targets: ["127.0.0.1:$WORKER_PORT"]}]
  - job_name: ucp-coordinator
    static_configs: [{targets: ["127.0.0.1:$COORDINATOR_PORT"]}]$SERVE_JOB
EOF
prometheus --config.file="$RUN_DIR/prometheus.yml" --storage.tsdb.path="$RUN_DIR/tsdb" \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" >"$RUN_DIR/prometheus.log" 2>&1 &
PIDS+=($!)
PROMETHEUS="http://127.0.0.1:$PROMETHEUS_PORT"
wait_for 60 "Prometheus ready" curl -sf "$PROMETHEUS/-/ready"

# promql QUERY: the value of an instant query's first sample ("" when there is none).
promql() {
    curl -sf --get "$PROMETHEUS/api/v1/query" --data-urlencode "query=$1" | python3 -c '
import json, sys
answer = json.load(sys.stdin)
result = answer["data"]["result"] if answer.get("status") == "success" else []
print(result[0]["value"][1] if result else "")'
}
TARGETS=$([[ -n $SERVE_PORT ]] && echo 3 || echo 2)
targets_up() { [[ $(promql 'sum(up{job=~"ucp-.*"})') == "$TARGETS" ]]; }
wait_for 30 "all $TARGETS targets up in Prometheus" targets_up

log "enqueueing $JOBS no-op orders of 50 ms; the worker (20 at once) drains them while Prometheus scrapes every second"
sql -c "INSERT INTO jobs (kind, type, payload, priority, run_at, max_attempts, submitted_by)
        SELECT 'order', 'noop', '{\"seconds\": 0.05}', 0, now(), 5, 'prometheus-check' FROM generate_series(1, $JOBS);
        SELECT pg_notify('ucp_jobs', 'bulk');" >/dev/null
drained() { [[ $(sql -c "SELECT count(*) FROM jobs WHERE state NOT IN ('succeeded', 'failed', 'canceled')") == 0 ]]; }
wait_for $((60 + JOBS / 20)) "the drain" drained
queue_finished=$(sql -c "SELECT count(*) FROM jobs WHERE state = 'succeeded' AND type = 'noop'")
log "the queue finished $queue_finished jobs"

QUERY='sum(ucp_jobs_finished_total{job="ucp-worker",type="noop",outcome="succeeded"})'
# A scrape after the last batch was recorded: at most a few scrape intervals.
promql_finished=""
caught_up() { promql_finished=$(promql "$QUERY"); [[ $promql_finished == "$queue_finished" ]]; }
deadline=$((SECONDS + 30))
until caught_up || ((SECONDS >= deadline)); do sleep 0.5; done
# The coordinator's depth gauge follows within a gauge interval and a scrape.
depth_after=""
depth_empty() { depth_after=$(promql 'max(ucp_queue_jobs{kind="order",state="queued"})'); [[ $depth_after == 0 ]]; }
deadline=$((SECONDS + 15))
until depth_empty || ((SECONDS >= deadline)); do sleep 0.5; done
depth_peak=$(promql 'max(max_over_time(ucp_queue_jobs{kind="order",state="queued"}[10m]))')
log "PromQL $QUERY = ${promql_finished:-none}"
log "queued orders by the coordinator's gauge, as Prometheus saw them: at most ${depth_peak:-none} during the drain, ${depth_after:-none} after it"

serve_up="none"
if [[ -n $SERVE_PORT ]]; then
    serve_up=$(promql 'up{job="ucp-serve"}')
    log "serve scraped with a viewer token: up{job=\"ucp-serve\"} = ${serve_up:-none}"
fi
if [[ $promql_finished == "$queue_finished" && $queue_finished == "$JOBS" && $depth_after == 0 ]] \
    && [[ -z $SERVE_PORT || $serve_up == 1 ]]; then RESULT=0; fi
verdict=$([[ $RESULT == 0 ]] && echo PASS || echo FAIL)
echo "prometheus: queue_finished=$queue_finished promql_finished=${promql_finished:-none} queue_depth_queued=${depth_after:-none} serve_up=${serve_up:-none} $verdict"
exit "$RESULT"
