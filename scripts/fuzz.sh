#!/usr/bin/env bash
# Fuzzes one parser of outside input with libFuzzer (issue 10, item 7).
#
#   scripts/fuzz.sh list                 # the targets (FuzzEntries.targets)
#   scripts/fuzz.sh TARGET SECONDS       # fuzz TARGET for SECONDS, growing Fuzz/corpus/TARGET
#   scripts/fuzz.sh TARGET merge         # minimize Fuzz/corpus/TARGET (keeps what adds coverage)
#
# Builds `ucp-fuzz` with `-sanitize=fuzzer -DFUZZING` into .build-fuzz (gitignored). New interesting
# inputs go to a scratch folder first and are merged into Fuzz/corpus/TARGET (-merge=1) at the end,
# so the kept corpus stays small. A crash leaves its input in Fuzz/crashes/ (copy it into the
# corpus with the fix: FuzzCorpusTests replays the corpus in every test run). Prints, last,
# `fuzz: target=… seconds=… executions=… crashes=…`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
die() { echo "fuzz: $*" >&2; exit 2; }

build() {
    swift build --scratch-path .build-fuzz --product ucp-fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xswiftc -use-ld=lld >&2 \
        || die "the fuzz build failed"
    BIN="$ROOT/.build-fuzz/debug/ucp-fuzz"
}

[[ $# -ge 1 ]] || die "usage: scripts/fuzz.sh list | TARGET SECONDS | TARGET merge"
if [[ $1 == list ]]; then ls Fuzz/corpus; exit 0; fi
TARGET=$1
[[ -d Fuzz/corpus/$TARGET ]] || die "target: no Fuzz/corpus/$TARGET (scripts/fuzz.sh list)"
[[ $# -eq 2 ]] || die "usage: scripts/fuzz.sh TARGET SECONDS | TARGET merge"
build
export UCP_FUZZ_TARGET=$TARGET
# libFuzzer must see the trap (SIGILL) to keep the input; Swift's backtracer would take it first.
export SWIFT_BACKTRACE=enable=no
CORPUS=Fuzz/corpus/$TARGET
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT

if [[ $2 == merge ]]; then
    mkdir "$SCRATCH/min"
    "$BIN" -merge=1 "$SCRATCH/min" "$CORPUS" >&2
    rm -f "$CORPUS"/*
    cp "$SCRATCH/min"/* "$CORPUS"/
    echo "fuzz: target=$TARGET corpus=$(ls "$CORPUS" | wc -l) files"
    exit 0
fi
[[ $2 =~ ^[1-9][0-9]*$ ]] || die "seconds: a whole number above 0 (got '$2')"
SECONDS_TO_RUN=$2
mkdir -p Fuzz/crashes "$SCRATCH/new"
cp "$CORPUS"/* "$SCRATCH/new"/
status=0
"$BIN" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix=Fuzz/crashes/"$TARGET"- "$SCRATCH/new" > "$SCRATCH/log" 2>&1 || status=$?
grep -E "^(stat::|==[0-9]+==|.*(Fatal error|fuzz property broken|SUMMARY|Test unit written))" "$SCRATCH/log" >&2 || true
mkdir "$SCRATCH/min"
"$BIN" -merge=1 "$SCRATCH/min" "$CORPUS" "$SCRATCH/new" > /dev/null 2>&1
rm -f "$CORPUS"/*
cp "$SCRATCH/min"/* "$CORPUS"/
executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$SCRATCH/log" | tail -1)
crashes=$( [[ $status -eq 0 ]] && echo 0 || echo 1 )
echo "fuzz: target=$TARGET seconds=$SECONDS_TO_RUN executions=${executions:-?} crashes=$crashes corpus=$(ls "$CORPUS" | wc -l)"
exit "$status"
