#!/usr/bin/env bash
# The status page in a real browser: headless Chromium (Debian's chromium and chromium-driver,
# driven by selenium from PyPI; each installed when missing) signs in with a viewer token and loads
# `/` of `ucp serve` while a (stand-in) infrastructure sync runs; the check reads the page's DOM until
# it shows that sync with its progress bar past zero, and a stored order's row among the recent
# orders with its state and steps; saves a screenshot and says what it found.
#
#   bash scripts/status-page-check.sh [--screenshot FILE]    # default /tmp/ucp-status-page.png
#
# Last line: `status-page: job N sync.infra of cucm-lab at DONE/TOTAL (…); order N succeeded 2/2 steps (screenshot FILE)`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { echo "[status-page] $*"; }
die() { echo "[status-page] error: $*" >&2; exit 1; }

SCREENSHOT=/tmp/ucp-status-page.png
while (($#)); do
    case $1 in
        --screenshot) [[ -n ${2-} ]] || die "screenshot: give a file"; SCREENSHOT=$2; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if ((${#missing[@]})); then
    log "installing ${missing[*]} (apt)"
    apt-get install -y -q "${missing[@]}" >&2 || { apt-get update -q >&2 && apt-get install -y -q "${missing[@]}" >&2; } \
        || die "apt-get install ${missing[*]} failed"
fi
if ! python3 -c 'import selenium' >/dev/null 2>&1; then
    log "installing selenium (pip)"
    PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet selenium >&2 || die "pip install selenium failed"
fi

pg_log() { log "$@"; }
pg_die() { die "$@"; }
# shellcheck source=lib/postgres.sh
source "$ROOT/scripts/lib/postgres.sh"

RUN_DIR=$(mktemp -d /tmp/ucp-status-page.XXXXXX)
PIDS=()
cleanup() {
    local rc=$?
    trap - EXIT
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    pg_cluster_destroy
    rm -rf "$RUN_DIR"
    exit "$rc"
}
trap cleanup EXIT

log "swift build --product ucp"
(cd "$ROOT" && swift build --product ucp >&2)
UCP="$ROOT/.build/debug/ucp"

pg_cluster_create ucp-status-page-pg
export DATABASE_URL="$PG_URL"
export UCP_MIGRATIONS_DIR="$ROOT/migrations"
"$UCP" migrate >"$RUN_DIR/migrate.log" 2>&1 || die "ucp migrate failed: $(cat "$RUN_DIR/migrate.log")"
"$UCP" schedule add --name Nightly --every 1d --builder cp >/dev/null
TOKEN=$("$UCP" token create --name wallboard --role viewer)
# An order for the page's "recent orders" (stored as a finished one: this check runs no device).
"$UCP" domain add --name Sales >/dev/null
ORDER_ID=$(psql "$PG_URL" -qAt -v ON_ERROR_STOP=1 <<'SQL'
INSERT INTO orders (kind, domain, service_area, user_id, call_processor, line, phone, state, submitted_by)
VALUES ('add', 'Sales', 'London', 'jdoe', 'cucm-lab', '4000', 'SEP001122334455', 'succeeded', 'status-page-check') RETURNING id;
SQL
) || die "storing an order failed"
psql "$PG_URL" -qAt -v ON_ERROR_STOP=1 -v order="$ORDER_ID" >/dev/null <<'SQL' || die "storing its steps failed"
INSERT INTO order_steps (order_id, position, name, device, call, state) VALUES
  (:order, 1, 'user', 'cucm-lab', '[{"operation": "addUser", "values": []}]', 'done'),
  (:order, 2, 'line', 'cucm-lab', '[{"operation": "addLine", "values": []}]', 'done');
SQL

# A sync that runs long enough to be seen, reporting progress every step (of a device that exists:
# a sync of an unknown one is refused; no device answers here, a stand-in runs the sync).
psql "$PG_URL" -qAt -v ON_ERROR_STOP=1 >/dev/null <<'SQL' || die "storing the device failed"
INSERT INTO devices (name, kind, address, port, admin_user) VALUES ('cucm-lab', 'call_processor', 'cucm.lab.example', 8443, 'axl');
SQL
"$UCP" worker --name w1 --stand-in-sync 'cucm-lab=seconds:90' >"$RUN_DIR/worker.log" 2>&1 &
PIDS+=($!)
"$UCP" submit sync infra --device cucm-lab >/dev/null
"$UCP" serve --listen 127.0.0.1:0 >"$RUN_DIR/serve.log" 2>&1 &
PIDS+=($!)
PORT=""
for _ in $(seq 1 300); do
    PORT=$(sed -n 's/.*serving on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$RUN_DIR/serve.log" | head -1)
    [[ -n $PORT ]] && break
    sleep 0.1
done
[[ -n $PORT ]] || die "ucp serve did not say where it listens: $(cat "$RUN_DIR/serve.log")"
log "status page: http://127.0.0.1:$PORT/"

# The token reaches the browser through the environment and the sign-in form, never argv.
ORDER_ID="$ORDER_ID" UCP_VIEWER_TOKEN="$TOKEN" URL="http://127.0.0.1:$PORT/" SCREENSHOT="$SCREENSHOT" python3 - <<'PY'
import os, sys
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

options = webdriver.ChromeOptions()
for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1100"):
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
try:
    url = os.environ["URL"]
    driver.get(url)
    assert driver.find_element(By.ID, "sign-in"), "no sign-in form"
    driver.find_element(By.ID, "token").send_keys(os.environ["UCP_VIEWER_TOKEN"])
    driver.find_element(By.ID, "sign-in-button").click()
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "signed-in-as"))
    cookie = driver.get_cookie("ucp_session")
    assert cookie and cookie.get("httpOnly") and cookie.get("sameSite") == "Strict", f"cookie {cookie}"

    def sync_with_progress(d):
        # The page reloads itself: read its DOM afresh each time.
        for row in d.find_elements(By.CSS_SELECTOR, 'tr.sync[data-target="cucm-lab"]'):
            bar = row.find_element(By.TAG_NAME, "progress")
            done, total = int(bar.get_attribute("value") or 0), int(bar.get_attribute("max") or 0)
            if total > 0 and 0 < done <= total:
                return row.get_attribute("data-job-id"), done, total, row.find_element(By.CLASS_NAME, "progress-text").text
        return False
    found = WebDriverWait(driver, 60, poll_frequency=0.5).until(sync_with_progress)
    job, done, total, text = found
    assert driver.find_element(By.ID, "maintenance").get_attribute("data-active") == "true", "a running sync holds maintenance mode"
    assert "Nightly" in driver.find_element(By.ID, "schedules").text, "the schedule is listed"
    assert "wallboard" == driver.find_element(By.ID, "signed-in-as").text
    order = driver.find_element(By.CSS_SELECTOR, f'#recent-orders tr.order[data-order-id="{os.environ["ORDER_ID"]}"]')
    order_seen = (order.get_attribute("data-state"), order.get_attribute("data-steps-done"), order.get_attribute("data-steps-total"))
    assert order_seen == ("succeeded", "2", "2"), f"order row {order_seen}: {order.text}"
    driver.save_screenshot(os.environ["SCREENSHOT"])
    print(f"status-page: job {job} sync.infra of cucm-lab at {done}/{total} ({text}); order {os.environ['ORDER_ID']} succeeded 2/2 steps"
          f" (screenshot {os.environ['SCREENSHOT']})")
finally:
    driver.quit()
PY
grep -q "$TOKEN" "$RUN_DIR/serve.log" && die "the token appears in the server's log"
exit 0
