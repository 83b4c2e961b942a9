#!/usr/bin/env bash
# Issue 14's throttling acceptance at its scale: the orders' simulator answers 503 to writes above 20
# a second, and 200 subscriber orders (voicemail on) must all succeed — each 503 backed off with
# jitter and retried. Runs `ucp bench orders` (bench/orders.sh), which fails unless every order
# succeeds, and prints how many writes devsim answered 503. The suite keeps a 60-order version of
# this (OrderTests.testOrdersSucceedWhileTheDeviceThrottlesWrites).
#   scripts/orders-throttle.sh [--orders 200] [--writes-per-second 20] [other bench options]
set -euo pipefail
cd "$(dirname "$0")/.."
exec bench/orders.sh --orders 200 --writes-per-second 20 "$@"
