#!/usr/bin/env bash
# The bounded fuzzing run of CI (ctest label "fuzz", docs/fuzzing.md): builds the two libFuzzer targets with clang in
# FUZZ_BUILD_DIR (default build/fuzz-ci), writes synthetic seed corpora (fuzz/make_seeds.py --synthetic: no shared
# data), replays them and the inputs of earlier findings (fuzz/regressions/TARGET/), then fuzzes each target for RUNS
# inputs from a fixed seed (so a run is repeatable), at most SECONDS each. Exit 0: no finding; 1: a finding (its file is named in the output, under FUZZ_BUILD_DIR/findings);
# 77: skipped (no clang with libFuzzer), which ctest reports as skipped.
#   fuzz/ci_fuzz.sh [RUNS [SECONDS [FUZZ_BUILD_DIR]]]
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-2000}
SECONDS_EACH=${2:-30}
BUILD=${3:-build/fuzz-ci}
CXX=${PULMO_FUZZ_CXX:-clang++}
CC=${PULMO_FUZZ_CC:-clang}
if ! command -v "$CXX" >/dev/null || ! command -v "$CC" >/dev/null; then
  echo "skipped: $CXX not installed (Debian: apt-get install clang); the fuzz targets need clang's libFuzzer"
  exit 77
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' > "$probe/p.cpp"
if ! "$CXX" -fsanitize=fuzzer,address "$probe/p.cpp" -o "$probe/p" 2>"$probe/err"; then
  echo "skipped: $CXX cannot build with -fsanitize=fuzzer,address: $(head -c 300 "$probe/err")"
  exit 77
fi
t0=$(date +%s)
if [ ! -f "$BUILD/build.ninja" ]; then
  nice -n 10 cmake -S . -B "$BUILD" -G Ninja -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
    -DPULMO_BUILD_FUZZ=ON -DPULMO_BUILD_TESTS=OFF -DPULMO_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null ||
    { echo "FAILED: cmake could not configure $BUILD"; exit 1; }
fi
nice -n 10 cmake --build "$BUILD" --parallel 2 --target pulmo_fuzz_read pulmo_fuzz_series >"$probe/build.log" 2>&1 ||
  { tail -40 "$probe/build.log"; echo "FAILED: the fuzz targets do not build"; exit 1; }
t1=$(date +%s)
echo "fuzz targets built in $((t1 - t0)) s ($BUILD)"
mkdir -p "$BUILD/findings"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
status=0
for target in read series; do
  seeds="$probe/seeds-$target" corpus="$probe/corpus-$target"
  mkdir -p "$corpus"
  python3 fuzz/make_seeds.py --synthetic $([ "$target" = series ] && echo --series) "$seeds" >/dev/null ||
    { echo "FAILED: fuzz/make_seeds.py"; exit 1; }
  s0=$(date +%s)
  # -seed fixes the mutations; -runs bounds the work, -max_total_time the time. Limits as fuzz/run_fuzz.sh.
  nice -n 10 "$BUILD/fuzz/pulmo_fuzz_$target" -seed=1 -runs="$RUNS" -max_total_time="$SECONDS_EACH" -max_len=65536 \
    -rss_limit_mb=4096 -malloc_limit_mb=256 -timeout=20 -print_final_stats=1 \
    -artifact_prefix="$BUILD/findings/$target-" "$corpus" "$seeds" "fuzz/regressions/$target" >"$probe/$target.log" 2>&1
  rc=$?
  runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$probe/$target.log" | grep -oE '[0-9]+$')
  edges=$(grep -oE 'cov: [0-9]+' "$probe/$target.log" | tail -1)
  echo "pulmo_fuzz_$target: ${runs:-?} inputs in $(( $(date +%s) - s0 )) s, ${edges:-cov: ?} edges, $(ls "$corpus" | wc -l) new corpus inputs, exit $rc"
  if [ "$rc" -ne 0 ]; then
    grep -E '==[0-9]+==|SUMMARY|artifact_prefix|Test unit written|ERROR' "$probe/$target.log" | head -20
    status=1
  fi
done
exit $status
