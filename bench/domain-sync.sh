#!/usr/bin/env bash
# The domain synchronization benchmark. Builds ucp in release mode; starts `ucp devsim --users N`
# (each user a phone with a line, every 2nd a mailbox whose DTMF access ID is that line, every 10th
# an Extension Mobility profile, every 5th a remote destination profile) and a private PostgreSQL
# (the embedded default under a temporary UCP_HOME); registers the simulator as a Unified CM and a
# Unity Connection and runs their infrastructure and user syncs through one worker; adds a domain
# with one service area per site and the rule Sync All Users; then runs `sync.domain` through a
# fresh worker (so its peak RSS is the domain sync's alone) and, in the same run on the same
# database, measures the limit: one set-based INSERT … SELECT that materializes the same users and
# their phone, line and voicemail rows from device_objects. See bench/README.md.
#
#   bench/domain-sync.sh [--users N] [--repetitions K] [--keep]
#
# The last line is the summary:
#   domain-sync: users=<n> per_s=<x> limit_per_s=<y> ratio=<r> peak_rss_mb=<m>
# per_s: users / (the job's finished_at - started_at); limit_per_s: users / the INSERT … SELECT's
# wall time (psql, one transaction, the same indexed tables); ratio = per_s / limit_per_s;
# peak_rss_mb: the domain worker's VmHWM (/proc/PID/status) after the syncs. With --repetitions K
# (default 1) the records are emptied and built again K times, each sync followed by the limit.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=50000
REPETITIONS=1
KEEP=0
while (($#)); do
    case $1 in
        --users) USERS=$2; shift 2 ;;
        --repetitions) REPETITIONS=$2; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "domain-sync: unknown argument $1" >&2; exit 64 ;;
    esac
done
[[ $USERS =~ ^[0-9]+$ && $USERS -ge 10 ]] || { echo "domain-sync: --users must be a whole number ≥ 10" >&2; exit 64; }
[[ $REPETITIONS =~ ^[0-9]+$ && $REPETITIONS -ge 1 ]] || { echo "domain-sync: --repetitions must be a whole number ≥ 1" >&2; exit 64; }

log() { echo "[domain-sync] $*" >&2; }

swift build -c release --product ucp >&2
UCP=$PWD/.build/release/ucp
WORK=$(mktemp -d /tmp/ucp-bench-domain.XXXXXX)
chmod 755 "$WORK"
export UCP_HOME=$WORK/home UCP_MIGRATIONS_DIR=$PWD/migrations UCP_SECRET_KEY_FILE=$WORK/secret.key UCP_LOG_LEVEL=warning
unset DATABASE_URL PGHOST PGPORT PGDATABASE PGUSER
mkdir -p "$UCP_HOME"
DEVSIM_PID="" WORKER_PID=""

cleanup() {
    local rc=$?
    [[ -n $WORKER_PID ]] && kill "$WORKER_PID" 2>/dev/null && wait "$WORKER_PID" 2>/dev/null || true
    [[ -n $DEVSIM_PID ]] && kill "$DEVSIM_PID" 2>/dev/null && wait "$DEVSIM_PID" 2>/dev/null || true
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

echo "bench-$RANDOM-$RANDOM" >"$WORK/devsim.password"
chmod 600 "$WORK/devsim.password"
log "starting ucp devsim with $USERS users"
"$UCP" devsim --port 0 --users "$USERS" --user axladmin --password-file "$WORK/devsim.password" \
    --cert-out "$WORK/devsim.pem" >"$WORK/devsim.out" 2>&1 &
DEVSIM_PID=$!
for _ in $(seq 1 1200); do
    grep -q '^devsim: listening' "$WORK/devsim.out" && break
    kill -0 "$DEVSIM_PID" 2>/dev/null || { cat "$WORK/devsim.out" >&2; exit 1; }
    sleep 0.25
done
PORT=$(sed -n 's/^devsim: listening on https:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/devsim.out")
[[ -n $PORT ]] || { cat "$WORK/devsim.out" >&2; exit 1; }

"$UCP" secret-key generate --file "$UCP_SECRET_KEY_FILE" >/dev/null
"$UCP" migrate >/dev/null 2>&1
PG_USER=$([[ $(id -u) -eq 0 ]] && echo postgres || id -un)
export DATABASE_URL="host=$UCP_HOME/postgres/data port=5432 user=$PG_USER dbname=ucp"
for device in "bench-cucm cucm" "bench-unity unity"; do
    read -r name kind <<<"$device"
    "$UCP" device add --name "$name" --kind "$kind" --address 127.0.0.1 --port "$PORT" --user axladmin \
        --password-file "$WORK/devsim.password" --ca-file "$WORK/devsim.pem" >/dev/null
done

# The device test and syncs run on a worker of their own: the domain sync's worker starts fresh afterwards.
"$UCP" worker --concurrency 1 --name bench-device-worker >"$WORK/device-worker.log" 2>&1 &
WORKER_PID=$!
"$UCP" device test bench-unity --wait >/dev/null
for sync in "infra bench-cucm" "user bench-cucm" "infra bench-unity" "user bench-unity"; do
    read -r kind device <<<"$sync"
    log "sync.$kind of $device"
    "$UCP" submit sync "$kind" --device "$device" --wait >/dev/null
done
kill "$WORKER_PID"; wait "$WORKER_PID" 2>/dev/null || true
WORKER_PID=""
# Statistics of what the device syncs wrote, as autovacuum would gather them within a minute: the
# limit's joins need them (the sync stages what it reads and analyzes its own staging).
psql "$DATABASE_URL" -X -q -c "ANALYZE device_objects" >/dev/null

"$UCP" domain add --name Bench >/dev/null
for site in $(seq -f '%02g' 1 10); do
    "$UCP" service-area add --domain Bench --name "SA_Site$site" --call-processor bench-cucm --device-pool "DP_Site$site" \
        --partition PT_Internal --message-processor bench-unity >/dev/null
done
"$UCP" domain edit Bench --rule sync-all-users >/dev/null

"$UCP" worker --concurrency 1 --name bench-domain-worker >"$WORK/domain-worker.log" 2>&1 &
WORKER_PID=$!

# The limit: the same users and the same service rows (phone, line, voicemail, IM and Presence,
# Extension Mobility access, remote destination profiles and destinations) placed by device pool,
# in one transaction of two set-based INSERT … SELECT statements (no rules, no log, no diff).
LIMIT_SQL=$(cat <<'SQL'
\timing off
BEGIN;
INSERT INTO users (user_id, domain, source, first_name, last_name, email, department, phone)
SELECT o.object_key, 'Bench', 'device', nullif(o.attributes->>'firstName', ''), nullif(o.attributes->>'lastName', ''),
       nullif(o.attributes->>'mailid', ''), nullif(o.attributes->>'department', ''), nullif(o.attributes->>'telephoneNumber', '')
  FROM device_objects o
 WHERE o.device = 'bench-cucm' AND o.sync_kind = 'user' AND o.object_type = 'User' AND o.removed_at IS NULL;
INSERT INTO user_services (user_id, service_type, device, sync_kind, object_type, object_key, uuid, domain, service_area, detail)
WITH phones AS (
    SELECT p.attributes->>'ownerUserName' AS user_id, p.object_key, p.uuid, p.attributes, a.name AS area
      FROM device_objects p
      JOIN service_areas a ON a.domain = 'Bench' AND a.call_processor = p.device AND a.device_pool = p.attributes->>'devicePoolName'
     WHERE p.device = 'bench-cucm' AND p.sync_kind = 'user' AND p.object_type = 'Phone' AND p.removed_at IS NULL
       AND coalesce(p.attributes->>'ownerUserName', '') <> ''),
lines AS (
    SELECT f.user_id, f.area, l.object_key, l.uuid, l.attributes->>'pattern' AS number
      FROM phones f
     CROSS JOIN LATERAL jsonb_array_elements(ucp_json_list(f.attributes->'lines'->'line')) x(line)
      JOIN device_objects l ON l.device = 'bench-cucm' AND l.sync_kind = 'user' AND l.object_type = 'Line'
                           AND l.object_key = (x.line->'dirn'->>'pattern') || '/' || coalesce(x.line->'dirn'->>'routePartitionName', ''))
SELECT user_id, 'phone', 'bench-cucm', 'user', 'Phone', object_key, uuid, 'Bench', area,
       jsonb_build_object('name', object_key, 'device_pool', attributes->>'devicePoolName') FROM phones
UNION ALL
SELECT user_id, 'line', 'bench-cucm', 'user', 'Line', object_key, uuid, 'Bench', area, jsonb_build_object('number', number) FROM lines
UNION ALL
SELECT n.user_id, 'voicemail', 'bench-unity', 'user', 'VoiceMailInfo', m.object_key, m.uuid, 'Bench', n.area,
       jsonb_build_object('mailbox', m.object_key, 'number', n.number)
  FROM lines n JOIN device_objects m ON m.device = 'bench-unity' AND m.sync_kind = 'user' AND m.object_type = 'VoiceMailInfo'
                                    AND m.attributes->>'DtmfAccessId' = n.number
UNION ALL
SELECT f.user_id, 'im_presence', 'bench-cucm', 'user', 'User', u.object_key, NULL, 'Bench', f.area,
       jsonb_build_object('home_cluster', true, 'service_profile', u.attributes->>'serviceProfile')
  FROM phones f JOIN device_objects u ON u.device = 'bench-cucm' AND u.sync_kind = 'user' AND u.object_type = 'User'
                                     AND u.object_key = f.user_id AND u.attributes->>'homeCluster' = 'true'
UNION ALL
SELECT f.user_id, 'em_access', 'bench-cucm', 'infra', 'DeviceProfile', d.object_key, d.uuid, 'Bench', f.area,
       jsonb_build_object('name', d.object_key)
  FROM phones f JOIN device_objects d ON d.device = 'bench-cucm' AND d.sync_kind = 'infra' AND d.object_type = 'DeviceProfile'
                                     AND d.attributes->>'loginUserId' = f.user_id
UNION ALL
SELECT r.attributes->>'userId', 'remote_destination_profile', 'bench-cucm', 'user', 'RemoteDestinationProfile', r.object_key, r.uuid,
       'Bench', a.name, jsonb_build_object('name', r.object_key, 'device_pool', r.attributes->>'devicePoolName')
  FROM device_objects r
  JOIN service_areas a ON a.domain = 'Bench' AND a.call_processor = r.device AND a.device_pool = r.attributes->>'devicePoolName'
 WHERE r.device = 'bench-cucm' AND r.sync_kind = 'user' AND r.object_type = 'RemoteDestinationProfile'
UNION ALL
SELECT r.attributes->>'userId', 'remote_destination', 'bench-cucm', 'user', 'RemoteDestination', d.object_key, d.uuid,
       'Bench', a.name, jsonb_build_object('destination', d.object_key, 'profile', r.object_key)
  FROM device_objects r
  JOIN service_areas a ON a.domain = 'Bench' AND a.call_processor = r.device AND a.device_pool = r.attributes->>'devicePoolName'
  JOIN device_objects d ON d.device = r.device AND d.sync_kind = 'user' AND d.object_type = 'RemoteDestination'
                       AND d.attributes->>'remoteDestinationProfileName' = r.object_key
 WHERE r.device = 'bench-cucm' AND r.sync_kind = 'user' AND r.object_type = 'RemoteDestinationProfile';
COMMIT;
SQL
)

SYNC_TIMES=() LIMIT_TIMES=()
for repetition in $(seq 1 "$REPETITIONS"); do
    psql "$DATABASE_URL" -X -q -c "DELETE FROM user_services" -c "DELETE FROM users" -c "VACUUM ANALYZE users, user_services" >/dev/null
    log "[$repetition/$REPETITIONS] sync.domain of $USERS users through one worker"
    SUBMIT=$("$UCP" submit sync domain --domain Bench --wait)
    JOB=$(sed -n 's/^job \([0-9]*\) queued.*/\1/p' <<<"$SUBMIT" | head -n 1)
    SYNC_TIMES+=("$("$UCP" jobs show "$JOB" --json | python3 -c '
import json, sys
from datetime import datetime
job = json.load(sys.stdin)
assert job["state"] == "succeeded", job
parse = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))
print((parse(job["finished_at"]) - parse(job["started_at"])).total_seconds())')")
    "$UCP" domain log Bench --kind domain | sed -n '2p' | sed 's/^/[domain-sync] /' >&2
    CREATED=$(psql "$DATABASE_URL" -X -A -t -c "SELECT count(*) FROM users WHERE domain = 'Bench'")
    [[ $CREATED -eq $USERS ]] || { log "expected $USERS users, the domain has $CREATED"; exit 1; }
    SYNC_ROWS=$(psql "$DATABASE_URL" -X -A -t -c "SELECT count(*) FROM user_services")

    psql "$DATABASE_URL" -X -q -c "DELETE FROM user_services" -c "DELETE FROM users" -c "VACUUM ANALYZE users, user_services" >/dev/null
    LIMIT_START=$(date +%s.%N)
    psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 <<<"$LIMIT_SQL" >/dev/null
    LIMIT_END=$(date +%s.%N)
    LIMIT_TIMES+=("$(python3 -c "print($LIMIT_END - $LIMIT_START)")")
    LIMIT_ROWS=$(psql "$DATABASE_URL" -X -A -t -c "SELECT count(*) FROM user_services")
    log "[$repetition/$REPETITIONS] sync ${SYNC_TIMES[-1]} s ($SYNC_ROWS services), limit ${LIMIT_TIMES[-1]} s ($LIMIT_ROWS services)"
done
PEAK_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$WORKER_PID/status")

python3 - "$USERS" "$PEAK_KB" "${SYNC_TIMES[*]}" "${LIMIT_TIMES[*]}" <<'PY'
import statistics, sys
users, peak_kb = int(sys.argv[1]), int(sys.argv[2])
sync_s = statistics.median(float(x) for x in sys.argv[3].split())
limit_s = statistics.median(float(x) for x in sys.argv[4].split())
per_s, limit_per_s = users / sync_s, users / limit_s
print(f"[domain-sync] medians: sync {sync_s:.2f} s, limit {limit_s:.2f} s", file=sys.stderr)
print(f"domain-sync: users={users} per_s={per_s:.0f} limit_per_s={limit_per_s:.0f} ratio={per_s / limit_per_s:.2f} peak_rss_mb={peak_kb / 1024:.1f}")
PY
