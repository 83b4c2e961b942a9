#!/usr/bin/env bash
# The orders benchmark: builds ucp in release mode and runs `ucp bench orders`.
#   bench/orders.sh [--orders N] [--workers W] [--concurrency C] [--latency-ms L] [--max-writes-in-flight M] [--writes-per-second R]
#                   [--bundle subscriber|full]   (full: also Extension Mobility, Conference Now, Single Number Reach, IM and
#                                                 Presence; target <= 25 calls an order) [--statement-stats] (diagnosis only)
# Starts a private PostgreSQL cluster (as bench/queue.sh does) and two `ucp devsim`: one whose users
# (N + 10) a user and domain synchronization bring into the domain, and the Unified CM + Unity
# Connection the orders go to (which has none of those users). Then N subscriber add orders (default
# 1000; voicemail on for all) through W workers (default 4) each running C jobs at once (default 4):
# addUser, addLine, addPhone, the association, the Unity user, the line's voicemail settings, the
# reset. Measures orders/s, device calls per order and per second (devsim's request counters, reads
# included), latency submitted → succeeded (server clock); then the raw limit: the same calls, read
# back from the orders' stored steps, made by a bare client (the project's AXL/CUPI clients, no queue,
# saga or database) with W × C orders in flight and the same per-device write bound, against a fresh
# simulator alike. See bench/README.md. The last line is the summary:
#   orders: orders=<n> per_s=<x> calls_per_order=<c> calls_per_s=<y> raw_calls_per_s=<z> ratio=<r> p50_ms=<p> p99_ms=<q>
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product ucp >&2
exec .build/release/ucp bench orders "$@"
