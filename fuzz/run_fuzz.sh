#!/usr/bin/env bash
# Runs pulmo_fuzz_read (or, with TARGET=series, pulmo_fuzz_series) for SECONDS in total (default 1800) at the lowest
# priority, restarting after each finding, so one crash does not end the run. Findings (crash-*, oom-*, timeout-*)
# go to fuzz/findings/ (series-crash-*, ... for the series target).
#   [TARGET=series] fuzz/run_fuzz.sh [SECONDS] [BUILD_DIR]      (docs/fuzzing.md)
# A single allocation above 256 MiB (4096 times the largest input) is reported at once as an oom-* finding (-malloc_limit_mb): inputs
# that make a library allocate gigabytes would otherwise run for many seconds each.
set -uo pipefail
cd "$(dirname "$0")"
TOTAL=${1:-1800}
BUILD=${2:-../build-fuzz}
TARGET=${TARGET:-read}
case "$TARGET" in
  read) SEEDS=seeds CORPUS=corpus PREFIX=findings/ SEED_ARGS=() ;;
  series) SEEDS=seeds-series CORPUS=corpus-series PREFIX=findings/series- SEED_ARGS=(--series) ;;
  *) echo "TARGET is read or series, not '$TARGET'"; exit 2 ;;
esac
BIN=$BUILD/fuzz/pulmo_fuzz_$TARGET
[ -x "$BIN" ] || { echo "build $BIN first (docs/fuzzing.md)"; exit 2; }
[ -d "$SEEDS" ] || python3 make_seeds.py "${SEED_ARGS[@]}" "$SEEDS"
mkdir -p "$CORPUS" findings
END=$(( $(date +%s) + TOTAL ))
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
while [ "$(date +%s)" -lt "$END" ]; do
  LEFT=$(( END - $(date +%s) ))
  nice -n 19 "$BIN" -max_total_time="$LEFT" -max_len=65536 -rss_limit_mb=4096 -malloc_limit_mb=256 -timeout=20 \
    -artifact_prefix="$PREFIX" "$CORPUS" "$SEEDS" "regressions/$TARGET" 2>&1 | grep --line-buffered -E "^(#[0-9]+.*(pulse|DONE)|==[0-9]+==|SUMMARY|artifact_prefix|Test unit)" 
  # A finding that entered the corpus (files are named by their SHA-1) would stop every restart at once.
  for f in findings/*-*; do [ -f "$f" ] && rm -f "$CORPUS/${f##*-}"; done
done
echo "done: $(ls "$CORPUS" | wc -l) corpus inputs, findings: $(ls findings | grep -cE '^(series-)?(crash|oom|timeout|leak)-')"
