#!/usr/bin/env bash
# The floor of a fenced step's save: what PostgreSQL spends on the smallest durable write a saga step
# can make — one single-row UPDATE of a step row, matched on its attempt, committed — on this box.
#   bench/commit-floor.sh [--clients N] [--seconds S]        (defaults 16 and 8)
# Starts a private cluster with the benchmarks' settings (fsync and synchronous_commit on, 256MB of
# shared buffers), fills 100,000 step rows, runs pgbench (prepared, 2 threads) with the script below,
# and reads the CPU the cluster (postmaster, backends, reaped backends) and pgbench spent from /proc.
# bench/orders.sh prints the CPU an order costs (run and raw); this says how much of that a lean
# engine could not avoid: calls per order × this floor. See bench/README.md, "The floor".
# The last line:
#   commit-floor: clients=<n> tps=<t> server_cpu_ms_per_commit=<s> pgbench_cpu_ms_per_commit=<p>
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

clients=16
seconds=8
while [[ $# -gt 0 ]]; do
    case $1 in
        --clients) clients=$2; shift 2 ;;
        --seconds) seconds=$2; shift 2 ;;
        *) echo "commit-floor: unknown argument '$1' (--clients N, --seconds S)" >&2; exit 64 ;;
    esac
done
[[ $clients =~ ^[0-9]+$ && $clients -ge 1 && $clients -le 200 ]] || { echo "commit-floor: --clients: a whole number from 1 to 200" >&2; exit 64; }
[[ $seconds =~ ^[0-9]+$ && $seconds -ge 1 ]] || { echo "commit-floor: --seconds: a whole number of 1 or more" >&2; exit 64; }
command -v pgbench >/dev/null || { echo "commit-floor: pgbench not found (Debian: postgresql-contrib / postgresql-client)" >&2; exit 1; }

pg_log() { echo "[floor] $*" >&2; }
pg_die() { echo "[floor] error: $*" >&2; exit 1; }
# shellcheck source=../scripts/lib/postgres.sh
source "$ROOT/scripts/lib/postgres.sh"
pg_cluster_create ucp-commit-floor "synchronous_commit = on" "shared_buffers = 256MB" "max_wal_size = 4GB"
trap pg_cluster_destroy EXIT

psql "$PG_URL" -q -v ON_ERROR_STOP=1 -c "CREATE TABLE steps (id integer PRIMARY KEY, attempt integer NOT NULL, state text NOT NULL, image jsonb)" \
    -c "INSERT INTO steps SELECT g, 1, 'pending', '{}' FROM generate_series(1, 100000) g"
psql "$PG_URL" -q -c "VACUUM ANALYZE steps"
script="$PG_DIR/step-save.sql"
cat >"$script" <<'SQL'
\set id random(1, 100000)
UPDATE steps SET state = 'sending', image = '{"description": "before"}' WHERE id = :id AND attempt = 1;
SQL
chmod 644 "$script"

# CPU seconds of the cluster so far: the postmaster with the children it reaped, and its live children.
cluster_cpu() {
    local postmaster
    postmaster=$(head -1 "$PG_DIR/data/postmaster.pid")
    python3 - "$postmaster" <<'PY'
import os, sys
postmaster = int(sys.argv[1])
hz = os.sysconf("SC_CLK_TCK")
def fields(pid):
    text = open(f"/proc/{pid}/stat").read()
    return text[text.rindex(")") + 2:].split()
own = fields(postmaster)
total = sum(int(x) for x in own[11:15])
for entry in os.listdir("/proc"):
    if entry.isdigit() and int(entry) != postmaster:
        try:
            f = fields(entry)
        except OSError:
            continue
        if int(f[1]) == postmaster:
            total += int(f[11]) + int(f[12])
print(total / hz)
PY
}

before=$(cluster_cpu)
output=$(pg_as_owner env TIME="%U %S" /usr/bin/time -o "$PG_DIR/pgbench.time" \
    pgbench -n -M prepared -c "$clients" -j 2 -T "$seconds" -f "$script" "$PG_URL" 2>&1) || { echo "$output" >&2; exit 1; }
after=$(cluster_cpu)
transactions=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$output")
tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$output")
read -r user system <"$PG_DIR/pgbench.time"
echo "[floor] $transactions single-row fenced commits by $clients clients in $seconds s; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$clients" "$tps" "$transactions" "$before" "$after" "$user" "$system" <<'PY'
import sys
clients, tps, n, before, after, user, system = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), *map(float, sys.argv[4:])
server = (after - before) * 1000 / n
client = (user + system) * 1000 / n
print(f"commit-floor: clients={clients} tps={tps:.1f} server_cpu_ms_per_commit={server:.3f} pgbench_cpu_ms_per_commit={client:.3f}")
PY
