#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run the demo on the embedded
# default database (a private PostgreSQL cluster under $UCP_HOME, created on first use).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
swift build --product ucp
.build/debug/ucp demo "$@"
