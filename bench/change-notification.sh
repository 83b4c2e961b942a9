#!/usr/bin/env bash
# The change-notification benchmark: builds ucp in release mode and runs `ucp bench change-notification`.
#   bench/change-notification.sh [--users N] [--changes C] [--concurrency K]
# Starts a private PostgreSQL cluster (as bench/queue.sh does) and `ucp devsim --users N` (default 10000),
# registers it as a Unified CM, runs its user synchronization (which takes the change-notification
# baseline), sets the poll interval to 1 s, starts a coordinator, and makes C changes (default 1000)
# through AXL in a burst: per ten, six user updates over half as many users (repeated objects), two line
# updates, one user added, one removed. It measures the time from the last change to the inventory
# holding all of them (verified object by object), the changes the polls applied per second of their
# run time and the gets they made; then the raw limit: the same listChange pages and the same gets with
# the same client and concurrency, nothing done with the answers. See bench/README.md. The last line:
#   change-notification: changes=<c> applied_per_s=<x> raw_per_s=<y> ratio=<r> lag_s=<l> gets=<g>
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product ucp >&2
exec .build/release/ucp bench change-notification "$@"
