#!/usr/bin/env bash
# The LDAP synchronization benchmark. Builds ucp in release mode; generates --users N users into a
# private slapd (`ucp ldapsim`: server size limit 500, paged searches of at most 500 a page); starts
# a private PostgreSQL (the embedded default under a temporary UCP_HOME); registers the directory
# and a domain that synchronizes all of them; runs `sync.ldap` through one `ucp worker`; and in the
# same run measures the raw limit: ldapsearch with paging (pr=500) reading the same entries and
# attributes to /dev/null. See bench/README.md.
#
#   bench/ldap-sync.sh [--users N] [--repetitions K] [--keep]
#
# The last line is the summary:
#   ldap-sync: users=<n> per_s=<x> raw_per_s=<y> ratio=<r> peak_rss_mb=<m>
# per_s: users / (the job's finished_at - started_at); raw_per_s: entries / ldapsearch's wall time;
# ratio = per_s / raw_per_s; peak_rss_mb: the worker's VmHWM (/proc/PID/status) after the syncs.
# With --repetitions K (default 3) the domain is emptied and synced again K times, each sync followed
# by an ldapsearch run (so both see the same load on a shared machine); the medians are reported.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=100000
REPETITIONS=3
KEEP=0
while (($#)); do
    case $1 in
        --users) USERS=$2; shift 2 ;;
        --repetitions) REPETITIONS=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "ldap-sync: unknown argument $1" >&2; exit 64 ;;
    esac
done
[[ $USERS =~ ^[0-9]+$ && $USERS -ge 1 ]] || { echo "ldap-sync: --users must be a whole number ≥ 1" >&2; exit 64; }
[[ $REPETITIONS =~ ^[0-9]+$ && $REPETITIONS -ge 1 ]] || { echo "ldap-sync: --repetitions must be a whole number ≥ 1" >&2; exit 64; }

log() { echo "[ldap-sync] $*" >&2; }

swift build -c release --product ucp >&2
UCP=$PWD/.build/release/ucp
WORK=$(mktemp -d /tmp/ucp-bench-ldap.XXXXXX)
chmod 755 "$WORK"
export UCP_HOME=$WORK/home UCP_MIGRATIONS_DIR=$PWD/migrations UCP_SECRET_KEY_FILE=$WORK/secret.key UCP_LOG_LEVEL=warning
unset DATABASE_URL PGHOST PGPORT PGDATABASE PGUSER
mkdir -p "$UCP_HOME"
SLAPD_PID="" WORKER_PID=""

cleanup() {
    local rc=$?
    [[ -n $WORKER_PID ]] && kill "$WORKER_PID" 2>/dev/null && wait "$WORKER_PID" 2>/dev/null || true
    [[ -n $SLAPD_PID ]] && kill "$SLAPD_PID" 2>/dev/null && wait "$SLAPD_PID" 2>/dev/null || true
    if [[ -f $UCP_HOME/postgres/data/PG_VERSION ]]; then
        if [[ $(id -u) -eq 0 ]]; then
            (cd / && runuser -u postgres -- pg_ctl -D "$UCP_HOME/postgres/data" -m fast stop >/dev/null 2>&1) || true
        else
            pg_ctl -D "$UCP_HOME/postgres/data" -m fast stop >/dev/null 2>&1 || true
        fi
    fi
    if ((KEEP)); then log "kept $WORK"; else rm -rf -- "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "generating $USERS users into slapd"
"$UCP" ldapsim --users "$USERS" --directory "$WORK/slapd" >"$WORK/ldapsim.out" 2>&1 &
SLAPD_PID=$!
for _ in $(seq 1 1200); do
    grep -q '^ldapsim: ' "$WORK/ldapsim.out" && break
    kill -0 "$SLAPD_PID" 2>/dev/null || { cat "$WORK/ldapsim.out" >&2; exit 1; }
    sleep 0.25
done
LINE=$(grep '^ldapsim: ' "$WORK/ldapsim.out")
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$LINE"; }
URL=$(field url) BASE=$(field base) BIND_DN=$(field bind_dn) PASSWORD_FILE=$(field password_file)
PORT=${URL##*:}
log "slapd at $URL (loaded in $(field load_s) s)"

"$UCP" secret-key generate --file "$UCP_SECRET_KEY_FILE" >/dev/null
"$UCP" migrate >/dev/null 2>&1
# The embedded default is up now: name it, so the commands below stop saying which database they use.
PG_USER=$([[ $(id -u) -eq 0 ]] && echo postgres || id -un)
export DATABASE_URL="host=$UCP_HOME/postgres/data port=5432 user=$PG_USER dbname=ucp"
"$UCP" device add --name bench-directory --kind ldap --server-type ad --security ldap --address 127.0.0.1 --port "$PORT" \
    --user "$BIND_DN" --password-file "$PASSWORD_FILE" >/dev/null
"$UCP" domain add --name Bench --directory bench-directory --search-base "$BASE" --sync-inactive-users --all-users \
    --stale-users do-not-change >/dev/null
FILTER=$("$UCP" domain show Bench --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["ldap"]["ldap_filter"])')
ATTRIBUTES=$("$UCP" domain show Bench --json | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["ldap"]["read_attributes"]))')
log "filter $FILTER; attributes $ATTRIBUTES"

"$UCP" worker --concurrency 1 --name bench-worker >"$WORK/worker.log" 2>&1 &
WORKER_PID=$!
sleep 1

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
read -r -a ATTRIBUTE_LIST <<<"$ATTRIBUTES"
SYNC_TIMES=() RAW_TIMES=()
for repetition in $(seq 1 "$REPETITIONS"); do
    if ((repetition > 1)); then
        psql "$DATABASE_URL" -X -q -c "DELETE FROM users; DELETE FROM ldap_sync_state" >/dev/null
    fi
    log "[$repetition/$REPETITIONS] sync.ldap of $USERS users through one worker"
    WORKER_CPU0=$(cpu "$WORKER_PID"); SLAPD_CPU0=$(cpu "$(cat "$WORK/slapd/slapd.pid")")
    SUBMIT=$("$UCP" submit sync ldap --domain Bench --wait)
    JOB=$(sed -n 's/^job \([0-9]*\) queued.*/\1/p' <<<"$SUBMIT" | head -n 1)
    SYNC_TIMES+=("$("$UCP" jobs show "$JOB" --json | python3 -c '
import json, sys
from datetime import datetime
job = json.load(sys.stdin)
assert job["state"] == "succeeded", job
parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))
print((parse(job["finished_at"]) - parse(job["started_at"])).total_seconds())')")
    log "CPU during the sync: worker $(( $(cpu "$WORKER_PID") - WORKER_CPU0 )) ticks, slapd $(( $(cpu "$(cat "$WORK/slapd/slapd.pid")") - SLAPD_CPU0 )) ticks (1 tick = 1/$(getconf CLK_TCK) s)"
    "$UCP" jobs log "$JOB" | sed -n 's/.*\(Timing: .*\)/[ldap-sync] \1/p' >&2
    CREATED=$("$UCP" users list --domain Bench --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    [[ $CREATED -eq $USERS ]] || { log "expected $USERS users, the domain has $CREATED"; exit 1; }

    # The raw limit: ldapsearch with paging, same filter and attributes, to /dev/null.
    RAW_START=$(date +%s.%N)
    ldapsearch -x -LLL -H "$URL" -D "$BIND_DN" -y "$PASSWORD_FILE" -b "$BASE" -E pr=500/noprompt "$FILTER" \
        "${ATTRIBUTE_LIST[@]}" >/dev/null
    RAW_END=$(date +%s.%N)
    RAW_TIMES+=("$(python3 -c "print($RAW_END - $RAW_START)")")
    log "[$repetition/$REPETITIONS] sync ${SYNC_TIMES[-1]} s, ldapsearch ${RAW_TIMES[-1]} s"
done
PEAK_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$WORKER_PID/status")

python3 - "$USERS" "$PEAK_KB" "${SYNC_TIMES[*]}" "${RAW_TIMES[*]}" <<'PY'
import statistics, sys
users, peak_kb = int(sys.argv[1]), int(sys.argv[2])
sync_s = statistics.median(float(x) for x in sys.argv[3].split())
raw_s = statistics.median(float(x) for x in sys.argv[4].split())
per_s, raw_per_s = users / sync_s, users / raw_s
print(f"[ldap-sync] medians: sync {sync_s:.2f} s, ldapsearch {raw_s:.2f} s", file=sys.stderr)
print(f"ldap-sync: users={users} per_s={per_s:.0f} raw_per_s={raw_per_s:.0f} ratio={per_s / raw_per_s:.2f} peak_rss_mb={peak_kb / 1024:.1f}")
PY
