#!/usr/bin/env bash
# The acceptance of `ucp order batch` (issue 15 item 7) in its full form, against `ucp devsim --users N`
# (default 1000): a CSV of N rows with 10 bad ones is refused whole with exactly 10 row/column errors
# and nothing written; with --skip-bad-rows the N-10 others succeed and the failed-rows file holds
# exactly the 10; the same batch with the same key again submits nothing new. The --wait progress bar
# is run in a pseudo-terminal (`script`) and its redraws shown. Everything runs in a temporary folder
# on loopback (the embedded PostgreSQL under its own UCP_HOME). Each check prints PASS or FAIL; exit 1 on any
# FAIL. About 30 s after the build (in .ci/run).
#   scripts/order-batch-check.sh [N]          (UCP_BUILD=release for the release build; default debug)
set -euo pipefail
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROWS=${1:-1000}
BUILD=${UCP_BUILD:-debug}
swift build -c "$BUILD" --product ucp --package-path "$ROOT" >&2
UCP=$ROOT/.build/$BUILD/ucp
exec 2> >(grep --line-buffered -v 'using the embedded default database' >&2)   # the note every command prints
W=$(mktemp -d /tmp/ucp-order-batch-check.XXXXXX); chmod 755 "$W"   # the embedded PostgreSQL runs as postgres when root
export UCP_HOME="$W/home" UCP_SECRET_KEY_FILE="$W/secret.key" UCP_MIGRATIONS_DIR="$ROOT/migrations"
$UCP secret-key generate --file "$UCP_SECRET_KEY_FILE" >/dev/null
printf 'sim-secret\n' > "$W/devsim.pw"
$UCP devsim --users "$ROWS" --port 0 --cert-out "$W/devsim.pem" --password-file "$W/devsim.pw" > "$W/devsim.out" 2>&1 &
DEVSIM=$!
WORKER=
trap 'kill $DEVSIM $WORKER 2>/dev/null || true; as_pg pg_ctl -D "$W/home/postgres/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$W"' EXIT
for i in $(seq 1 100); do grep -q 'listening on' "$W/devsim.out" && break; sleep 0.2; done
PORT=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$W/devsim.out" | head -1)
echo "devsim on port $PORT with $ROWS users"
$UCP migrate 2>&1 | tail -1
$UCP device add --name cucm-batch --kind cucm --address 127.0.0.1 --port "$PORT" --user admin --ca-file "$W/devsim.pem" --password-file "$W/devsim.pw"
$UCP worker --name batch-worker > "$W/worker.log" 2>&1 &
WORKER=$!
$UCP device test cucm-batch --wait | tail -1
$UCP submit sync infra --device cucm-batch --wait | tail -1
$UCP submit sync user --device cucm-batch --wait | tail -1
$UCP domain add --name Cisco >/dev/null
$UCP domain edit Cisco --rule sync-all-users >/dev/null
$UCP service-area add --domain Cisco --name SA_Site01 --call-processor cucm-batch --device-pool DP_Site01 --partition PT_Internal >/dev/null
$UCP submit sync domain --domain Cisco --wait | tail -1
$UCP service-area add --domain Cisco --name SA_Batch --call-processor cucm-batch --device-pool DP_Site01 --location Hub_None \
  --device-css CSS_Internal --line-css CSS_Internal --partition PT_Internal --dn-block 40000-41999 >/dev/null

# The batch: one row per simulator user, each with its own new phone; 10 rows are bad, each in its own way.
python3 - "$ROWS" "$W/batch.csv" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
rows = [["Cisco", "SA_Batch", "user%06d" % i, "SEP00BA%08d" % i, "Cisco 8845", "no", ""] for i in range(n)]
step = n // 10
bad = {
    0 * step + 7: lambda r: r.__setitem__(2, "nosuchuser"),          # user: not in the inventory
    1 * step + 7: lambda r: r.__setitem__(4, "Cisco 9999"),          # phone_model: unknown
    2 * step + 7: lambda r: r.__setitem__(3, "SEP 00BA"),            # phone_name: not a device name
    3 * step + 7: lambda r: r.__setitem__(6, "12a"),                 # line: not a number
    4 * step + 7: lambda r: r.__setitem__(6, "50000"),               # line: outside the block
    5 * step + 7: lambda r: r.__setitem__(5, "maybe"),               # voicemail: not yes/no
    6 * step + 7: lambda r: r.__setitem__(1, "SA_Nowhere"),          # service_area: no such area
    7 * step + 7: lambda r: r.__setitem__(3, rows[1][3]),            # phone_name: also on row 2
    8 * step + 7: lambda r: r.__setitem__(2, ""),                    # user: required
    9 * step + 7: lambda r: r.__setitem__(0, "NoDomain"),            # domain: no such domain
}
for index, change in bad.items():
    change(rows[index])
rows[5][6] = "40002"   # a row asking for a number inside the block: no automatic row takes it
with open(path, "w", newline="") as f:
    f.write("domain,service_area,user,phone_name,phone_model,voicemail,line\r\n")
    for r in rows:
        f.write(",".join('"%s"' % c if "," in c else c for c in r) + "\r\n")
PY
FAILED=()
check() { if eval "$2"; then echo "PASS $1"; else echo "FAIL $1"; FAILED+=("$1"); fi; }
count_state() { $UCP order list --limit 10000 --json | python3 -c 'import json,sys; print(sum(1 for x in json.load(sys.stdin) if sys.argv[1] in ("all", x["state"])))' "$1"; }
orders() { $UCP order list --limit 10000 --json | python3 -c 'import json,sys,collections; o=json.load(sys.stdin); print(len(o), "orders", dict(collections.Counter(x["state"] for x in o)))'; }

echo "--- 1. the whole batch, $ROWS rows with 10 bad: refused"
set +e; $UCP order batch -f "$W/batch.csv" --key ACC > "$W/refused.out" 2> "$W/refused.err"; rc=$?; set -e
grep -v 'using the embedded default database' "$W/refused.err"
echo "exit $rc; row/column errors: $(grep -c '^ucp: row ' "$W/refused.err"); orders: $(orders)"
echo "failed-rows file written: $([[ -e $W/batch.failed.csv ]] && echo yes || echo no)"
check "refused whole: exit 64, exactly 10 row/column errors, no order, no failed-rows file" \
  '[[ $rc -eq 64 && $(grep -c "^ucp: row " "$W/refused.err") -eq 10 && $(count_state all) -eq 0 && ! -e $W/batch.failed.csv ]]'

echo "--- 2. dry run with --skip-bad-rows"
$UCP order batch -f "$W/batch.csv" --key ACC --skip-bad-rows --dry-run 2>/dev/null
echo "orders: $(orders)"
check "dry run writes nothing" '[[ $(count_state all) -eq 0 ]]'

echo "--- 3. --skip-bad-rows --wait, in a terminal (script -qc)"
start=$(date +%s.%N)
set +e; script -eqc "$UCP order batch -f $W/batch.csv --key ACC --skip-bad-rows --wait" "$W/typescript" > /dev/null; rc=$?; set -e
end=$(date +%s.%N)
echo "exit $rc; the terminal's output, each redraw of the bar (\\r) on its own line (10 evenly spaced, then the last 4):"
tr '\r' '\n' < "$W/typescript" | sed 's/\x1b\[2K//g' | grep -v -e '^$' -e 'using the embedded default database' -e '^Script ' -e '^ucp: row ' > "$W/redraws.txt"
echo "(first the 10 skipped rows, one line each, as in 1.: $(tr '\r' '\n' < "$W/typescript" | grep -c '^ucp: row ') lines)"
total=$(wc -l < "$W/redraws.txt")
awk -v t="$total" 'NR <= t - 4 && (NR == 1 || NR % int(t/10 + 1) == 0) || NR > t - 4' "$W/redraws.txt"
echo "($total lines in all; $(python3 -c "print(round($end-$start,1))") s)"
echo "orders: $(orders)"
echo "failed-rows file $W/batch.failed.csv:"
cat "$W/batch.failed.csv"
failed_rows=$(($(python3 -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1]))))' "$W/batch.failed.csv") - 1))
echo "rows in it: $failed_rows"
check "--skip-bad-rows: $((ROWS - 10)) orders succeeded, the failed-rows file holds exactly the 10" \
  '[[ $rc -eq 0 && $(count_state succeeded) -eq $((ROWS - 10)) && $(count_state all) -eq $((ROWS - 10)) && $failed_rows -eq 10 ]]'

echo "--- 4. the same batch, the same key: nothing new"
$UCP order batch -f "$W/batch.csv" --key ACC --skip-bad-rows --wait 2>/dev/null | tee "$W/again.out" | grep -v '^ *$'
echo "orders: $(orders)"
check "the same key again: nothing new" \
  '[[ $(count_state all) -eq $((ROWS - 10)) ]] && grep -q " 0 orders submitted, $((ROWS - 10)) already submitted with this key" "$W/again.out"'
echo "--- audit"
$UCP audit --limit 100000 2>/dev/null | grep -F ' order.batch '
if ((${#FAILED[@]})); then echo "order-batch-check: FAIL (${#FAILED[@]})"; exit 1; fi
echo "order-batch-check: PASS"
