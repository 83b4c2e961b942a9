#!/usr/bin/env bash
# The chaos test (issue 10, item 5): a coordinator and several workers with short leases against a
# private PostgreSQL, thousands of logging no-op orders and dozens of syncs from parallel
# submitters, and for a bounded time: workers killed with kill -9 and restarted, workers paused
# (SIGSTOP) past their lease and resumed, the coordinator killed and restarted, PostgreSQL stopped
# for 5 s and crashed once (pg_ctl stop -m immediate). Then the queue drains and SQL checks the
# guarantees. One line per breach, then exactly
#   chaos: jobs=… final=… lost=… double_runs=… overlaps=… orders_in_maintenance=…
# and a non-zero exit on any breach (or, for the long form, when it did less chaos than it must).
#
#   scripts/chaos.sh            # the long form: 100 s of chaos, 3000 orders, 36 syncs, 4 workers
#   scripts/chaos.sh --short    # about a minute (CI: .ci/run): 25 s of chaos, 400 orders, 8 syncs
#   options: --chaos-seconds N  --orders N  --syncs N  --workers N  --submitters N  --seed N  --keep
#
# The long form is valid only with at least 90 s of chaos, 10 worker kills, 2 pauses past the
# lease, a coordinator kill, a 5 s PostgreSQL stop and a crash; it prints what it did
# (`chaos done: …`) and fails when it fell short. The short form needs each kind of chaos once and
# 3 kills. --seed fixes the order lengths, the sync mix and the choice of victims (the timing is
# the machine's). Everything runs on unix sockets and loopback; every process and the cluster are
# removed on exit, Ctrl-C included (--keep keeps the logs folder; a failed run keeps it too).
#
# What the checks measure, and why that is what a correct system guarantees:
# * double_runs: orders whose handler's *completion was recorded* for two attempts. The noop
#   order's "noop finished" line is written by the worker in the statement that marks the job
#   succeeded (JobContext.logOnSuccess), so it exists exactly for the attempt whose success was
#   recorded. A line written at the end of the handler instead would count the true at-least-once
#   window (kill -9 after the handler's last write, before the success) as a double run; that
#   rerun is correct, a second recorded completion is not. Zombie writes — a paused worker's
#   handler writing after the rescue — are fenced (job log inserts confirm id, attempt, running;
#   the worker's local lease deadline stops handlers on resume); `zombie_writes` checks it: no log
#   line of an attempt later than that attempt's rescue.
# * overlaps: syncs' running intervals from the audit trail — `sync.started` (attempt N) to the
#   job's next ending line (finished, retry, rescued, released). A sync starts only after the
#   previous one's end committed, so its start line is later than that end line; any two
#   intervals that intersect are a breach.
# * orders_in_maintenance: every order step the database records — each log line ("noop
#   started", "noop finished") and the last attempt's start and finish — must lie outside every
#   infrastructure or user sync's running interval. Steps are fenced writes, so a zombie's late
#   step cannot land inside a later sync unseen. (Maintenance mode also holds while a sync is
#   only due, but orders already running may finish then: that is the rule, so the check uses
#   the syncs' running intervals, not the maintenance windows.)
# * lost: jobs not final at the end, plus ids a submitter was given that are no longer in jobs.
#   A submit that failed (PostgreSQL down) is retried and never counted; one whose commit
#   happened but whose answer was lost may leave an extra job, which is checked like the others.
# * lost syncs: every sync the coordinator rescued ended failed with `worker lost`.
# * maintenance is off at the end (computed state, recorded state and the operator switch).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { echo "[chaos] $*"; }
die() { echo "[chaos] error: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; }

SHORT=0
CHAOS_SECONDS=""; ORDERS=""; SYNCS=""; WORKERS=""; SUBMITTERS=4; SEED=""; KEEP=0
number() { [[ $2 =~ ^[0-9]+$ ]] && (($2 >= $3)) || die "$1: must be a whole number, $3 or more (got '$2')"; }
while (($#)); do
    case $1 in
        --short) SHORT=1 ;;
        --chaos-seconds) number "$1" "${2-}" 5; CHAOS_SECONDS=$2; shift ;;
        --orders) number "$1" "${2-}" 1; ORDERS=$2; shift ;;
        --syncs) number "$1" "${2-}" 0; SYNCS=$2; shift ;;
        --workers) number "$1" "${2-}" 2; WORKERS=$2; shift ;;
        --submitters) number "$1" "${2-}" 1; SUBMITTERS=$2; shift ;;
        --seed) number "$1" "${2-}" 0; SEED=$2; shift ;;
        --keep) KEEP=1 ;;
        -h|--help) usage; exit 0 ;;
        *) die "$1: unknown option (see --help)" ;;
    esac
    shift
done
if ((SHORT)); then
    : "${CHAOS_SECONDS:=25}" "${ORDERS:=400}" "${SYNCS:=8}" "${WORKERS:=3}"
    MIN_SECONDS=0; MIN_KILLS=3; MIN_PAUSES=1
else
    : "${CHAOS_SECONDS:=100}" "${ORDERS:=3000}" "${SYNCS:=36}" "${WORKERS:=4}"
    MIN_SECONDS=90; MIN_KILLS=10; MIN_PAUSES=2
fi
: "${SEED:=$(( $(date +%s) % 100000 ))}"
RANDOM=$SEED

LEASE=3                        # the workers' lease, seconds
RESCUE=1                       # the coordinator's rescue interval, seconds
PAUSE=$((LEASE + RESCUE + 3))  # a pause long enough for the lease to expire and the rescue to run
CONCURRENCY=12
SYNC_SECONDS=1.5
DRAIN_TIMEOUT=$((240 + ORDERS / 10))

cd "$ROOT"
command -v psql >/dev/null || die "psql not found on PATH"
log "seed $SEED; ${CHAOS_SECONDS}s of chaos, $ORDERS orders, $SYNCS syncs, $WORKERS workers, $SUBMITTERS submitters"
log "swift build --product ucp"
swift build --product ucp >&2
UCP="$ROOT/.build/debug/ucp"
[[ -x $UCP ]] || die "$UCP was not built"

pg_log() { log "$@"; }
pg_die() { die "$@"; }
# shellcheck source=lib/postgres.sh
source "$ROOT/scripts/lib/postgres.sh"

RUN_DIR=$(mktemp -d /tmp/ucp-chaos.XXXXXX)
mkdir -p "$RUN_DIR/logs" "$RUN_DIR/submitted"
declare -A WORKER_PID=()     # worker slot → pid
declare -A WORKER_GEN=()     # worker slot → generation (its name is w<slot>.<generation>)
COORDINATOR_PID=""
SUBMITTER_PIDS=()
PAUSED_SLOT=""               # the slot of a paused worker, not to be killed while it is paused
PAUSED_UNTIL=0
RESUMER_PID=""
RESULT=1

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local pid
    for pid in "${SUBMITTER_PIDS[@]}"; do
        pkill -TERM -P "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
    done
    [[ -n $RESUMER_PID ]] && kill "$RESUMER_PID" 2>/dev/null || true
    for pid in "${WORKER_PID[@]}" $COORDINATOR_PID; do
        kill -CONT "$pid" 2>/dev/null || true
        kill -TERM "$pid" 2>/dev/null || true
    done
    local waited=0
    for pid in "${WORKER_PID[@]}" $COORDINATOR_PID "${SUBMITTER_PIDS[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((waited < 50)); do sleep 0.1; waited=$((waited + 1)); done
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    pg_cluster_destroy
    if ((KEEP)) || ((rc != 0)); then
        log "logs kept in $RUN_DIR"
    else
        rm -rf -- "$RUN_DIR"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
elapsed_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
seconds_ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }

pg_cluster_create ucp-chaos-pg
export DATABASE_URL="$PG_URL"
export UCP_MIGRATIONS_DIR="$ROOT/migrations"
export UCP_LOG_LEVEL=info
"$UCP" migrate >"$RUN_DIR/logs/migrate.log" 2>&1 || { cat "$RUN_DIR/logs/migrate.log" >&2; die "ucp migrate failed"; }

sql() { psql "$PG_URL" -X -q -v ON_ERROR_STOP=1 -At -F '|' "$@"; }

# run_checks URL CSV: the checks (scripts/lib/chaos-checks.sql) on one session, after the ids the
# submitters recorded (CSV: kind,id).
run_checks() {
    {
        echo "CREATE TEMP TABLE submitted (kind text, id bigint);"
        echo "COPY submitted FROM STDIN WITH (FORMAT csv);"
        cat "$2"
        echo '\.'
        cat "$ROOT/scripts/lib/chaos-checks.sql"
    } | psql "$1" -X -q -v ON_ERROR_STOP=1 -At -F '|'
}

# The checks first run on a made-up history with one breach of each kind, in a database of its own:
# each must report its breach, or the run's clean result would prove nothing.
FIXTURE_EXPECTED="not_final vanished double_run completion_record zombie_write overlap order_in_maintenance lost_sync maintenance counts|8|7|2|1|1|1"
FIXTURE_URL="host=$PG_DIR port=$PG_PORT user=$PG_SUPERUSER dbname=chaos_fixture"
sql -c "CREATE DATABASE chaos_fixture" >/dev/null
DATABASE_URL="$FIXTURE_URL" "$UCP" migrate >>"$RUN_DIR/logs/migrate.log" 2>&1 || die "ucp migrate of the fixture database failed"
psql "$FIXTURE_URL" -X -q -v ON_ERROR_STOP=1 -f "$ROOT/scripts/lib/chaos-checks-fixture.sql" >/dev/null
printf 'order,1\norder,99\n' >"$RUN_DIR/fixture.csv"
fixture_found=$(run_checks "$FIXTURE_URL" "$RUN_DIR/fixture.csv" | grep -v -e '^observed|' -e '^outcome|' \
    | awk -F'|' '$1 == "counts" { print; next } { print $1 }' | tr '\n' ' ' | sed 's/ $//')
[[ $fixture_found == "$FIXTURE_EXPECTED" ]] \
    || die "the checks missed a breach of the fixture: expected '$FIXTURE_EXPECTED', found '$fixture_found'"
log "the checks find every breach of the fixture"

start_worker() {
    local slot=$1
    WORKER_GEN[$slot]=$(( ${WORKER_GEN[$slot]:-0} + 1 ))
    local name="w$slot.${WORKER_GEN[$slot]}"
    "$UCP" worker --stand-in-jobs --stand-in-sync "*=seconds:$SYNC_SECONDS" --lease "${LEASE}s" --grace 1s \
        --concurrency "$CONCURRENCY" --name "$name" >>"$RUN_DIR/logs/$name.log" 2>&1 &
    WORKER_PID[$slot]=$!
}

start_coordinator() {
    "$UCP" coordinator --name chaos-coordinator --rescue-interval "${RESCUE}s" --leader-lease 5s \
        >>"$RUN_DIR/logs/coordinator.log" 2>&1 &
    COORDINATOR_PID=$!
}

# One submitter: its share of the orders, with its share of the syncs spread among them. Every
# submit that fails is tried again; the id a successful one prints is recorded (kind, id).
submitter() {
    local index=$1 orders=$2 syncs=$3
    RANDOM=$((SEED * 31 + index))
    local out="$RUN_DIR/submitted/$index.ids" failures=0 every=$(( syncs > 0 ? (orders / (syncs + 1)) + 1 : orders + 1 ))
    local n=0 sync_index=$index kinds=(infra user domain ldap)
    submit() {
        local kind=$1; shift
        local output tries=0
        while true; do
            if output=$("$UCP" submit "$@" 2>&1) && [[ $output =~ job\ ([0-9]+)\ (queued|is\ already\ queued) ]]; then
                echo "$kind ${BASH_REMATCH[1]}" >>"$out"
                return 0
            fi
            failures=$((failures + 1)); tries=$((tries + 1))
            ((tries < 600)) || { echo "gave up: $* : $output" >>"$RUN_DIR/logs/submitter-$index.log"; return 1; }
            sleep 0.5
        done
    }
    for ((n = 1; n <= orders; n++)); do
        local seconds
        printf -v seconds '0.%02d' $((10 + RANDOM % 90))
        submit order job noop --payload "{\"log\":true,\"seconds\":$seconds}" || true
        if ((syncs > 0 && n % every == 0)); then
            local type=${kinds[$((RANDOM % 4))]} target="chaos-$sync_index"
            case $type in
                infra|user) submit sync sync "$type" --device "$target" || true ;;
                *) submit sync sync "$type" --domain "$target" || true ;;
            esac
            syncs=$((syncs - 1)); sync_index=$((sync_index + SUBMITTERS))
        fi
    done
    echo "$failures" >"$RUN_DIR/submitted/$index.failures"
}

# The syncs' targets (chaos-0 …): a device and a domain (with a rule a domain sync needs) of each
# name, since a sync of an unknown one is refused; no device answers, stand-ins run the syncs.
sql -v syncs="$SYNCS" >/dev/null <<'SQL' || die "storing the sync targets failed"
INSERT INTO devices (name, kind, address, port, admin_user)
SELECT 'chaos-' || n, 'call_processor', 'chaos.invalid', 8443, 'axl' FROM generate_series(0, :syncs - 1) AS n;
INSERT INTO domains (name) SELECT 'chaos-' || n FROM generate_series(0, :syncs - 1) AS n;
INSERT INTO domain_rules (domain, rule) SELECT 'chaos-' || n, 'sync_all_users' FROM generate_series(0, :syncs - 1) AS n;
SQL

start_coordinator
for ((slot = 1; slot <= WORKERS; slot++)); do start_worker "$slot"; done
for ((index = 0; index < SUBMITTERS; index++)); do
    orders=$(( ORDERS / SUBMITTERS + (index < ORDERS % SUBMITTERS ? 1 : 0) ))
    syncs=$(( SYNCS / SUBMITTERS + (index < SYNCS % SUBMITTERS ? 1 : 0) ))
    submitter "$index" "$orders" "$syncs" &
    SUBMITTER_PIDS+=($!)
done

# ---- chaos --------------------------------------------------------------------------------------
KILLS=0; PAUSES=0; COORDINATOR_KILLS=0; PG_STOPS=0; PG_CRASHES=0
KILL_TARGET=$((MIN_KILLS + 4))
PAUSE_TARGET=$((MIN_PAUSES + 1))
START=$(now)
NEXT_KILL=2
NEXT_PAUSE=$(awk -v t="$CHAOS_SECONDS" 'BEGIN { print t * 0.10 }')
COORDINATOR_AT=$(awk -v t="$CHAOS_SECONDS" 'BEGIN { print t * 0.25 }')
PG_STOP_AT=$(awk -v t="$CHAOS_SECONDS" 'BEGIN { print t * 0.35 }')
PG_CRASH_AT=$(awk -v t="$CHAOS_SECONDS" 'BEGIN { print t * 0.65 }')

PAUSED_NAMES=()
# A process that is gone before chaos signals it exited by itself: a breach (workers and the
# coordinator outlive database outages), reported at the end rather than aborting the run here.
EXITED=()
signal_process() {  # SIGNAL PID NAME (SIGNAL 0: only asks); false when the process had exited by itself
    local signal=$1 pid=$2 name=$3 status=0
    kill "-$signal" "$pid" 2>/dev/null && return 0
    wait "$pid" 2>/dev/null || status=$?
    local when="before SIG$signal"
    [[ $signal == 0 ]] && when="by the end of the chaos"
    EXITED+=("$name (pid $pid) had exited by itself with status $status $when")
    log "$name (pid $pid) had exited by itself with status $status"
    return 1
}
# VICTIM: the slot of the worker running the most orders now (a pause should catch work in
# flight), or a random one when none runs any or the database does not answer.
pick_busy_victim() {
    local name
    name=$(sql -c "SELECT worker FROM jobs WHERE state = 'running' AND kind = 'order' GROUP BY worker ORDER BY count(*) DESC LIMIT 1" 2>/dev/null || true)
    if [[ $name =~ ^w([0-9]+)\.([0-9]+)$ ]] && [[ ${WORKER_GEN[${BASH_REMATCH[1]}]:-} == "${BASH_REMATCH[2]}" ]]; then
        VICTIM=${BASH_REMATCH[1]}
    else
        pick_victim
    fi
}
VICTIM=""
pick_victim() {  # VICTIM: a random worker slot that is not paused (no subshell: RANDOM stays seeded)
    while true; do
        VICTIM=$((1 + RANDOM % WORKERS))
        [[ $VICTIM != "$PAUSED_SLOT" ]] && return
    done
}

log "chaos for ${CHAOS_SECONDS}s"
while true; do
    t=$(elapsed_since "$START")
    seconds_ge "$t" "$CHAOS_SECONDS" && break
    if [[ -n $PAUSED_SLOT ]] && seconds_ge "$t" "$PAUSED_UNTIL"; then
        wait "$RESUMER_PID" 2>/dev/null || true
        RESUMER_PID=""; PAUSED_SLOT=""
    fi
    if ((COORDINATOR_KILLS == 0)) && seconds_ge "$t" "$COORDINATOR_AT"; then
        log "t=${t}s kill -9 coordinator (pid $COORDINATOR_PID); restart in 2 s"
        signal_process KILL "$COORDINATOR_PID" coordinator && { wait "$COORDINATOR_PID" 2>/dev/null || true; }
        sleep 2; start_coordinator; COORDINATOR_KILLS=$((COORDINATOR_KILLS + 1))
    elif ((PG_STOPS == 0)) && seconds_ge "$t" "$PG_STOP_AT"; then
        log "t=${t}s PostgreSQL stopped for 5 s"
        pg_cluster_stop fast; sleep 5; pg_cluster_start; PG_STOPS=$((PG_STOPS + 1))
    elif ((PG_CRASHES == 0)) && seconds_ge "$t" "$PG_CRASH_AT"; then
        log "t=${t}s PostgreSQL crashed (pg_ctl stop -m immediate), started again"
        pg_cluster_stop immediate; pg_cluster_start; PG_CRASHES=$((PG_CRASHES + 1))
    elif [[ -z $PAUSED_SLOT ]] && ((PAUSES < PAUSE_TARGET)) && seconds_ge "$t" "$NEXT_PAUSE"; then
        pick_busy_victim; PAUSED_SLOT=$VICTIM
        pid=${WORKER_PID[$PAUSED_SLOT]}
        PAUSED_NAMES+=("w$PAUSED_SLOT.${WORKER_GEN[$PAUSED_SLOT]}")
        log "t=${t}s SIGSTOP worker w$PAUSED_SLOT.${WORKER_GEN[$PAUSED_SLOT]} for ${PAUSE}s (lease ${LEASE}s)"
        if ! signal_process STOP "$pid" "worker w$PAUSED_SLOT.${WORKER_GEN[$PAUSED_SLOT]}"; then
            start_worker "$PAUSED_SLOT"; PAUSED_SLOT=""; sleep 0.3; continue
        fi
        ( sleep "$PAUSE"; kill -CONT "$pid" 2>/dev/null ) &
        RESUMER_PID=$!
        PAUSED_UNTIL=$(awk -v t="$t" -v p="$PAUSE" 'BEGIN { print t + p + 0.5 }')
        PAUSES=$((PAUSES + 1))
        NEXT_PAUSE=$(awk -v t="$t" -v c="$CHAOS_SECONDS" -v n="$((PAUSE_TARGET - PAUSES))" \
            'BEGIN { print t + (c * 0.95 - t) / (n > 0 ? n : 1) }')
    elif seconds_ge "$t" "$NEXT_KILL"; then
        pick_victim; slot=$VICTIM
        log "t=${t}s kill -9 worker w$slot.${WORKER_GEN[$slot]} (pid ${WORKER_PID[$slot]}), restarted"
        signal_process KILL "${WORKER_PID[$slot]}" "worker w$slot.${WORKER_GEN[$slot]}" \
            && { wait "${WORKER_PID[$slot]}" 2>/dev/null || true; }
        start_worker "$slot"; KILLS=$((KILLS + 1))
        # Spread the kills still due over the time left.
        NEXT_KILL=$(awk -v t="$t" -v c="$CHAOS_SECONDS" -v n="$((KILL_TARGET - KILLS))" \
            'BEGIN { s = (c - t) / (n > 0 ? n : 1); if (s < 1.5) s = 1.5; print t + s }')
    fi
    sleep 0.3
done
CHAOS_DONE=$(elapsed_since "$START")
if [[ -n $PAUSED_SLOT ]]; then
    wait "$RESUMER_PID" 2>/dev/null || true
    RESUMER_PID=""; PAUSED_SLOT=""
fi
log "chaos over after ${CHAOS_DONE}s; waiting for the submitters"
for pid in "${SUBMITTER_PIDS[@]}"; do wait "$pid" || true; done
SUBMITTER_PIDS=()

# ---- drain --------------------------------------------------------------------------------------
log "waiting for the queue to drain (at most ${DRAIN_TIMEOUT}s)"
DRAIN_START=$(now)
while true; do
    left=$(sql -c "SELECT count(*) FROM jobs WHERE state NOT IN ('succeeded', 'failed', 'canceled')" 2>/dev/null || echo "?")
    [[ $left == 0 ]] && break
    seconds_ge "$(elapsed_since "$DRAIN_START")" "$DRAIN_TIMEOUT" && { log "drain timed out with $left unfinished"; break; }
    sleep 1
done
log "drained after $(elapsed_since "$DRAIN_START")s"
# The last device sync's end switches maintenance mode off in its own transaction; give a
# coordinator's refresh a moment anyway before judging it.
sleep 1

# ---- checks -------------------------------------------------------------------------------------
for slot in "${!WORKER_PID[@]}"; do
    kill -0 "${WORKER_PID[$slot]}" 2>/dev/null \
        || signal_process 0 "${WORKER_PID[$slot]}" "worker w$slot.${WORKER_GEN[$slot]}" || true
done
kill -0 "$COORDINATOR_PID" 2>/dev/null || signal_process 0 "$COORDINATOR_PID" coordinator || true
cat "$RUN_DIR"/submitted/*.ids 2>/dev/null | awk '{ print $1 "," $2 }' >"$RUN_DIR/submitted.csv" || true
SUBMIT_FAILURES=$(cat "$RUN_DIR"/submitted/*.failures 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
RECORDED=$(wc -l <"$RUN_DIR/submitted.csv")

CHECKS=$(run_checks "$PG_URL" "$RUN_DIR/submitted.csv") || die "the checks' SQL failed"

BREACHES=$(grep -v -e '^counts|' -e '^observed|' -e '^outcome|' -e '^$' <<<"$CHECKS" || true)
IFS='|' read -r _ JOBS FINAL LOST DOUBLE OVERLAPS IN_MAINTENANCE <<<"$(grep '^counts|' <<<"$CHECKS")"
IFS='|' read -r _ N_ORDERS N_SYNCS ORDERS_OK RETRIED RESCUES SYNCS_LOST SYNCS_OK ENTRIES <<<"$(grep '^observed|' <<<"$CHECKS")"
# What the paused workers said on resuming: each attempt they found lost (the pauses caught work).
PAUSE_LOSSES=0
for name in "${PAUSED_NAMES[@]}"; do
    PAUSE_LOSSES=$((PAUSE_LOSSES + $(grep -c "lost its lease" "$RUN_DIR/logs/$name.log" || true)))
done
LEASE_LOSSES=$(cat "$RUN_DIR"/logs/w*.log | grep -c "lost its lease" || true)

log "submitted: $RECORDED ids recorded, $(sort -u "$RUN_DIR/submitted.csv" | wc -l) distinct ($SUBMIT_FAILURES failed submits retried)"
log "jobs: $N_ORDERS orders ($ORDERS_OK succeeded, $RETRIED ran more than once), $N_SYNCS syncs ($SYNCS_OK succeeded, $SYNCS_LOST worker lost); $RESCUES rescues; maintenance entered $ENTRIES times; workers said 'lost its lease' $LEASE_LOSSES times"
grep '^outcome|' <<<"$CHECKS" | sed 's/^outcome|/[chaos] outcome: /' || true
log "the paused workers (${PAUSED_NAMES[*]}) said $PAUSE_LOSSES attempts lost their lease"
echo "chaos done: seconds=$CHAOS_DONE worker_kills=$KILLS pauses_past_lease=$PAUSES coordinator_kills=$COORDINATOR_KILLS pg_stops=$PG_STOPS pg_crashes=$PG_CRASHES"

SHORTFALL=()
seconds_ge "$CHAOS_DONE" "$MIN_SECONDS" || SHORTFALL+=("chaos seconds $CHAOS_DONE < $MIN_SECONDS")
((KILLS >= MIN_KILLS)) || SHORTFALL+=("worker kills $KILLS < $MIN_KILLS")
((PAUSES >= MIN_PAUSES)) || SHORTFALL+=("pauses past the lease $PAUSES < $MIN_PAUSES")
((COORDINATOR_KILLS >= 1)) || SHORTFALL+=("no coordinator kill")
((PG_STOPS >= 1)) || SHORTFALL+=("no PostgreSQL stop")
((PG_CRASHES >= 1)) || SHORTFALL+=("no PostgreSQL crash")
((RECORDED > 0)) || SHORTFALL+=("no job was submitted")
GAVE_UP=$(cat "$RUN_DIR"/logs/submitter-*.log 2>/dev/null | grep -c "^gave up" || true)
((GAVE_UP == 0)) || SHORTFALL+=("$GAVE_UP submits given up after 5 minutes of failures (logs/submitter-*.log)")

if [[ -n $BREACHES ]]; then
    while IFS='|' read -r kind detail; do echo "breach: $kind: $detail"; done <<<"$BREACHES"
fi
for line in "${EXITED[@]}"; do echo "breach: process_exit: $line"; done
for line in "${SHORTFALL[@]}"; do echo "not valid: $line ($( ((SHORT)) && echo short || echo long) form minimums)"; done
echo "chaos: jobs=$JOBS final=$FINAL lost=$LOST double_runs=$DOUBLE overlaps=$OVERLAPS orders_in_maintenance=$IN_MAINTENANCE"
# The counts fail the run too, should a breach have no line of its own.
if [[ -z $BREACHES ]] && ((${#EXITED[@]} == 0)) && ((${#SHORTFALL[@]} == 0)) && ((JOBS == FINAL && LOST + DOUBLE + OVERLAPS + IN_MAINTENANCE == 0)); then
    RESULT=0
fi
exit "$RESULT"
