#!/usr/bin/env bash
# Checks a user synchronization end to end against `ucp devsim --users N` (default 50000): the counts of
# users, phones (with their lines) and lines; a second sync with nothing changed leaves them equal and
# marks nothing removed; after 10 users are removed on the simulator (AXL removeUser) the next sync
# marks exactly those 10 removed. Everything runs in a temporary folder on loopback (the embedded
# PostgreSQL under its own UCP_HOME); the release build of ucp is used.
#   scripts/user-sync-check.sh [N]
set -euo pipefail
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
USERS=${1:-50000}
swift build -c release --product ucp --package-path "$ROOT" >&2
UCP=$ROOT/.build/release/ucp
W=$(mktemp -d /tmp/ucp-user-sync-check.XXXXXX); chmod 755 "$W"   # the embedded PostgreSQL runs as postgres when root
export UCP_HOME="$W/home" UCP_SECRET_KEY_FILE="$W/secret.key" UCP_MIGRATIONS_DIR="$ROOT/migrations"
$UCP secret-key generate --file "$UCP_SECRET_KEY_FILE" >/dev/null
printf 'sim-secret\n' > "$W/devsim.pw"
printf "machine 127.0.0.1 login admin password sim-secret\n" > "$W/netrc"
$UCP devsim --users "$USERS" --port 0 --cert-out "$W/devsim.pem" --password-file "$W/devsim.pw" > "$W/devsim.out" 2>&1 &
DEVSIM=$!
WORKER=
trap 'kill $DEVSIM $WORKER 2>/dev/null || true; as_pg pg_ctl -D "$W/home/postgres/data" -m fast stop >/dev/null 2>&1 || true; rm -rf "$W"' EXIT
for i in $(seq 1 100); do grep -q 'listening on' "$W/devsim.out" && break; sleep 0.2; done
PORT=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' "$W/devsim.out" | head -1)
echo "devsim on port $PORT"
$UCP migrate 2>&1 | tail -1
$UCP device add --name cucm-50k --kind cucm --address 127.0.0.1 --port "$PORT" --user admin --ca-file "$W/devsim.pem" --password-file "$W/devsim.pw"
$UCP worker --name acc-worker > "$W/worker.log" 2>&1 &
WORKER=$!
$UCP device test cucm-50k --wait | tail -2
counts() { $UCP device objects cucm-50k --kind user --count 2>/dev/null | grep -E '^(TYPE|User|Phone|Line) '; }
echo "--- first user sync"; time $UCP submit sync user --device cucm-50k --wait | tail -2
counts
echo "a phone with its lines:"; $UCP device objects cucm-50k --type Phone --limit 1 --json 2>/dev/null | python3 -c 'import json,sys; p=json.load(sys.stdin)[0]; print(" ", p["key"], "lines:", json.dumps(p["attributes"].get("lines")))'
echo "--- second user sync, nothing changed"; $UCP submit sync user --device cucm-50k --wait | tail -1
counts
echo "--- remove 10 users on the simulator (AXL removeUser)"
for n in $(python3 -c "import sys; n=int(sys.argv[1]); print(*sorted({1, n//7, n//5, n//3, n//2, n*2//3, n*3//4, n*4//5, n*9//10, n-1}))" "$USERS"); do
  uid=$(printf 'user%06d' "$n")
  echo "$uid" >> "$W/removed-users.txt"
  curl -s -o /dev/null -w "removeUser $uid: HTTP %{http_code}\n" --cacert "$W/devsim.pem" --netrc-file "$W/netrc" -H 'Content-Type: text/xml' -H 'SOAPAction: "CUCM:DB ver=12.5 removeUser"' \
    --data "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:ns=\"http://www.cisco.com/AXL/API/12.5\"><soapenv:Body><ns:removeUser><userid>$uid</userid></ns:removeUser></soapenv:Body></soapenv:Envelope>" \
    "https://127.0.0.1:$PORT/axl/"
done
echo "--- third user sync"; $UCP submit sync user --device cucm-50k --wait | tail -1
counts
$UCP device objects cucm-50k --type User --include-removed --limit 100000 --json > "$W/users.json"
python3 - "$W/users.json" "$W/removed-users.txt" <<'PY'
import json,sys
objs=json.load(open(sys.argv[1]))
gone=sorted(o.get('key') for o in objs if o.get('removed_at') or o.get('removed'))
want=sorted(open(sys.argv[2]).read().split())
print("marked removed:", len(gone), gone)
print("exactly the 10 removed on the simulator:", gone==want)
PY
