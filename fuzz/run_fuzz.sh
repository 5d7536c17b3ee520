#!/usr/bin/env bash
# Runs pulmo_fuzz_read for SECONDS in total (default 1800) at the lowest priority, restarting after each
# finding, so one crash does not end the run. Findings (crash-*, oom-*, timeout-*) go to fuzz/findings/.
#   fuzz/run_fuzz.sh [SECONDS] [BUILD_DIR]      (docs/fuzzing.md)
# A single allocation above 256 MiB (4096 times the largest input) is reported at once as an oom-* finding (-malloc_limit_mb): inputs
# that make a library allocate gigabytes would otherwise run for many seconds each.
set -uo pipefail
cd "$(dirname "$0")"
TOTAL=${1:-1800}
BUILD=${2:-../build-fuzz}
BIN=$BUILD/fuzz/pulmo_fuzz_read
[ -x "$BIN" ] || { echo "build $BIN first (docs/fuzzing.md)"; exit 2; }
[ -d seeds ] || python3 make_seeds.py seeds
mkdir -p corpus findings
END=$(( $(date +%s) + TOTAL ))
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
while [ "$(date +%s)" -lt "$END" ]; do
  LEFT=$(( END - $(date +%s) ))
  nice -n 19 "$BIN" -max_total_time="$LEFT" -max_len=65536 -rss_limit_mb=4096 -malloc_limit_mb=256 -timeout=20 \
    -artifact_prefix=findings/ corpus seeds 2>&1 | grep --line-buffered -E "^(#[0-9]+.*(pulse|DONE)|==[0-9]+==|SUMMARY|artifact_prefix|Test unit)" 
  # A finding that entered the corpus (files are named by their SHA-1) would stop every restart at once.
  for f in findings/*-*; do [ -f "$f" ] && rm -f "corpus/${f##*-}"; done
done
echo "done: $(ls corpus | wc -l) corpus inputs, findings: $(ls findings | grep -cE '^(crash|oom|timeout|leak)-')"
