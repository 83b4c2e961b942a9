#!/usr/bin/env bash
# The AXL sync benchmark: builds ucp in release mode and runs `ucp bench axl-sync`.
#   bench/axl-sync.sh [--users N] [--concurrency C] [--page-size P]
# Starts a private PostgreSQL cluster (as bench/queue.sh does), `ucp devsim --users N` (default 50000),
# registers it as a Unified CM, fetches the user sync's AXL list pages and get follow-ups raw with the
# same concurrency (the limit), then runs the user synchronization through one `ucp worker` and reads
# its peak RSS (/proc/PID/status VmHWM). See bench/README.md. The last line is the summary:
#   axl-sync: objects=<n> per_s=<x> raw_per_s=<y> ratio=<r> peak_rss_mb=<m>
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product ucp >&2
exec .build/release/ucp bench axl-sync "$@"
