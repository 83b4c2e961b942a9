#!/usr/bin/env bash
# The floor of a fenced step save: builds ucp in release mode and runs `ucp bench commit-floor`.
#   bench/commit-floor.sh [--clients N] [--seconds S]        (defaults 16 and 8)
# A private cluster with the benchmarks' settings, 100,000 step rows, pgbench updating one row matched
# on its attempt per committed transaction, and the CPU the cluster and pgbench spent on each (from
# /proc and getrusage). bench/orders.sh prints the CPU an order costs; this is what no engine could
# avoid per durable save. See bench/README.md. The last line:
#   commit-floor: clients=<n> tps=<t> server_cpu_ms_per_commit=<s> pgbench_cpu_ms_per_commit=<p>
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product ucp >&2
exec .build/release/ucp bench commit-floor "$@"
