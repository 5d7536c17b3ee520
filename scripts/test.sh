#!/usr/bin/env bash
# Quick start, command 2: install, build, and run the whole test suite (CTest + GoogleTest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 1200 -j "$(nproc)"
