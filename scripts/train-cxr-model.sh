#!/usr/bin/env bash
# Reproduces the shipped chest X-ray model models/cxr (weights, cv.json, importance.json, features.csv ...)
# from ../shared/data/cxr. One thread, niced: about 20-25 min on one core of the reference machine.
#   scripts/train-cxr-model.sh [extra pulmo options]
set -euo pipefail
cd "$(dirname "$0")/.."
PULMO=${PULMO:-build/pulmo}
nice -n 10 "$PULMO" --threads 1 "$@" cxr train --config models/cxr/train.yaml 2>&1 | tee models/cxr/train.log
