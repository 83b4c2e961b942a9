#!/usr/bin/env bash
# The job-queue benchmark: builds ucp in release mode and runs `ucp bench queue`.
#   bench/queue.sh [--jobs N] [--workers W] [--concurrency C] [--single N] [--latency-jobs N]
#                  [--latency-rate R] [--pgbench-seconds S] [--repetitions K] [...]
# See bench/README.md. The last line of output is the summary:
#   queue: drain_per_s=… limit_per_s=… ratio=… p50_ms=… p99_ms=…
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product ucp >&2
exec .build/release/ucp bench queue "$@"
