#!/usr/bin/env bash
# `ucp serve` under load while the queue drains: builds ucp in release mode and runs `ucp bench http`.
#   bench/http.sh [--jobs N] [--workers W] [--concurrency C] [--connections N] [--threads N] [--rate R] [--rounds N]
# wrk offers a fixed load of --rate requests/s (default 550; open loop, paced with its delay()) while the
# queue drains; drains alone and under load alternate over --rounds (each loaded drain against the drains
# alone around it; the summary is the median round).
# Installs wrk (Debian) when missing. See bench/README.md. The last line of output is the summary:
#   http: rps=… p99_ms=… drain_per_s=… drain_alone_per_s=…
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >&2
swift build -c release --product ucp >&2
exec .build/release/ucp bench http "$@"
