#!/usr/bin/env bash
# Retrains the chest X-ray lung segmenter models/cxr_lungs (2-D U-Net, lung cropping of `pulmo cxr`) from the
# v7labs lung masks of ../shared/data/cxr/ieee8023-permissive, then measures its Dice on the held-out patients.
#   scripts/train-cxr-lungs.sh            # about 5 min (12 min on a loaded machine) on one thread of a 2-core x86-64 CPU
set -euo pipefail
cd "$(dirname "$0")/.."
PULMO=${PULMO:-build/pulmo}
. scripts/lib/data.sh
pulmo_require_data train-cxr-lungs cxr/ieee8023-permissive cxr/mhh-covid19
DATA=$(pulmo_data_dir)/cxr
W=${PULMO_TRAIN_WORK:-build/train-work/cxr_lungs}
OUT=${OUT:-models/cxr_lungs}
mkdir -p "$W"
"$PULMO" cxr lung-manifest --ieee8023 "$DATA/ieee8023-permissive" --hannover "$DATA/mhh-covid19" \
  -o "$W/manifest-cxr-lungs.csv"
cp models/recipes/cxr_lungs.yaml "$W/config.yaml"
"$PULMO" --threads 1 train --config "$W/config.yaml" --output "$W/cxr_lungs" 2>&1 | tee "$W/train.log"
mkdir -p "$OUT"
cp "$W/cxr_lungs/model.json" "$W/cxr_lungs/weights.pt" "$W/cxr_lungs/log.csv" "$W/cxr_lungs/curves.png" "$OUT/"
cp models/recipes/cxr_lungs.yaml "$OUT/config.yaml"
"$PULMO" cxr lung-eval --manifest "$W/manifest-cxr-lungs.csv" --lung-model "$OUT" --cases test -o "$OUT/eval"
