#!/usr/bin/env bash
# Configures and builds pulmo (Release by default) into ./build. Extra arguments go to cmake.
#   BUILD_DIR=build-debug scripts/build.sh -DCMAKE_BUILD_TYPE=Debug
#   scripts/build.sh -DCMAKE_PREFIX_PATH=/path/to/libtorch      # another LibTorch (e.g. CUDA)
#   TARGETS=pulmo_cli scripts/build.sh                            # only these targets (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
# Preprocessor mode: in direct mode, objects built with precompiled headers in another checkout (another worktree)
# were reused although their headers differed.
export CCACHE_NODIRECT=${CCACHE_NODIRECT:-1}
export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}
cmake -S . -B "$BUILD_DIR" -G Ninja "$@"
# shellcheck disable=SC2086  # TARGETS is a space-separated list
cmake --build "$BUILD_DIR" --parallel "$(nproc)" ${TARGETS:+--target $TARGETS}
