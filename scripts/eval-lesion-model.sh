#!/usr/bin/env bash
# The lesion stage's 3-D figures (issue 16 items 4 and 5), for the shipped models or any other models folder:
#   - involvement on synthetic lesions inserted into the held-out real CT (Lung-PET-CT-Dx A0002, never in any
#     training; resampled by scripts/make-reference-labels.sh): 4 procedural insertions (seed 903, 3-75 %, as
#     scripts/evaluate-default-models.sh) and 4 with real lesion shapes (seed 904, 3-75 %, the last 10 MosMedData
#     masks of ../shared/data/ct/mosmed-masks in name order). The whole cascade (pulmo quantify), then pulmo eval:
#     involvement MAE, bias, CT severity score accuracy, lesion Dice, with bootstrap 95 % intervals;
#   - false positives on every real CT without COVID-19 in ../shared (the test SlowLesionsInsideTheLungs: involvement
#     outside the Lung-PET-CT-Dx tumour boxes, and no lesion voxel outside the lungs).
#   scripts/eval-lesion-model.sh [OUT]                        (default build/eval-lesions)
#   PULMO_MODELS=DIR scripts/eval-lesion-model.sh OUT         another models folder (cascade.json + its stages)
#   LESIONS=DIR scripts/eval-lesion-model.sh OUT              the shipped cascade with this lesion model folder
#   SETS="procedural shapes normal"                           a part only
# Writes OUT/figures.txt (the headline numbers), OUT/<set>/ (pulmo eval's summary.md), OUT/cases/, OUT/truth/.
# About 10 min on 2 busy cores.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/data.sh
pulmo_require_data eval-lesion-model ct/lung-pet-ct-dx ct/totalsegmentator ct/lidc-lungmask ct/mosmed-masks
PULMO=${PULMO:-./build/pulmo}
[ -x "$PULMO" ] || scripts/build.sh
D=$(pulmo_data_dir)
REF=${PULMO_REFERENCE:-build/reference-labels}
# (the normal set's test binary runs the pulmo it was built with: build/pulmo)
PULMO=$PULMO scripts/make-reference-labels.sh "$REF" A0002 >/dev/null
OUT=${1:-build/eval-lesions}
P="$PULMO --threads ${THREADS:-1}"
SETS=${SETS:-procedural shapes normal}
mkdir -p "$OUT/cases"
OUT=$(readlink -f "$OUT")
MODELS=$(readlink -f "${PULMO_MODELS:-models}")
if [ -n "${LESIONS:-}" ]; then   # the shipped cascade with another lesion model
  [ -f "$LESIONS/weights.pt" ] || { echo "eval-lesion-model: $LESIONS holds no weights.pt" >&2; exit 2; }
  rm -rf "$OUT/models"
  mkdir -p "$OUT/models"
  cp -r models/cascade.json models/lung_box models/lungs "$OUT/models/"
  cp -r "$LESIONS" "$OUT/models/lesions"
  MODELS=$OUT/models
fi

if [ ! -f "$OUT/truth/.done" ]; then
  rm -rf "$OUT/truth" "$OUT/mosmed-eval"
  mkdir -p "$OUT/truth" "$OUT/mosmed-eval"
  masks=("$D"/ct/mosmed-masks/*.nii.gz)   # name order
  for m in "${masks[@]: -10}"; do ln -s "$(readlink -f "$m")" "$OUT/mosmed-eval/"; done
  $P -q synth --out "$OUT/truth/procedural" --count 4 --seed 903 --insert-into "$REF/A0002.nii.gz" \
    --lung-mask "$REF/A0002_lungs.nii.gz" --involvement 0.03:0.75 >/dev/null
  $P -q synth --out "$OUT/truth/shapes" --count 4 --seed 904 --insert-into "$REF/A0002.nii.gz" \
    --lung-mask "$REF/A0002_lungs.nii.gz" --involvement 0.03:0.75 --shapes "$OUT/mosmed-eval" >/dev/null
  touch "$OUT/truth/.done"
fi

for set in procedural shapes; do
  [[ " $SETS " == *" $set "* ]] || continue
  man=$OUT/$set.csv
  echo "case_id,patient_id,reference,prediction,lung_reference,lung_prediction" >"$man"
  tail -n +2 "$OUT/truth/$set/manifest.csv" | while IFS=, read -r case_id _ _ image lungs lesions _; do
    q=$OUT/cases/$set-$case_id
    [ -s "$q/lesions.nii.gz" ] || { rm -rf "$q"; $P -q quantify "$OUT/truth/$set/$image" --out "$q" --models "$MODELS" \
      --no-html --no-dicom-seg >/dev/null 2>"$q.err"; }
    # each insertion is its own patient here: the intervals are over the 4 insertions
    echo "$case_id,$case_id,$OUT/truth/$set/$lesions,$q/lesions.nii.gz,$OUT/truth/$set/$lungs,$q/lungs.nii.gz" >>"$man"
  done
  rm -rf "${OUT:?}/$set"
  $P -q eval --manifest "$man" --output-dir "$OUT/$set" --tolerance-mm 5 --bootstrap 1000 >/dev/null
done

if [[ " $SETS " == *" normal "* ]]; then
  T=build/tests/pulmo_integration_tests
  [ -x "$T" ] || cmake --build build --target pulmo_integration_tests
  PULMO_MODELS=$MODELS "$T" --gtest_filter='*SlowLesionsInsideTheLungs*' \
    >"$OUT/normal.log" 2>&1 || echo "eval-lesion-model: some false-positive checks failed (see $OUT/normal.log)" >&2
fi

{
  echo "eval-lesion-model: models $MODELS ($(date -u +%Y-%m-%dT%H:%MZ))"
  for set in procedural shapes; do
    [ -f "$OUT/$set/summary.md" ] || continue
    echo "== lesions inserted into A0002, $set: $OUT/$set/summary.md"
    grep -E '^\| (MAE \(percentage points\)|Bland-Altman bias|severity score accuracy|dice) ' "$OUT/$set/summary.md" | sed 's/^/  /' | head -n 8
    awk -F, 'NR == 1 { for (i = 1; i <= NF; ++i) c[$i] = i; next }
             { printf "  %s: inserted %.1f %%, pulmo %.1f %%\n", $c["case"], $c["involved_ref_percent"], $c["involved_pred_percent"] }' \
      "$OUT/$set/cases.csv" | sort -u
  done
  if [ -f "$OUT/normal.log" ]; then
    echo "== real CTs without COVID-19 (involvement = false positives; tumour boxes apart): $OUT/normal.log"
    grep -E '^\[ involvement \]' "$OUT/normal.log" | sed 's/^\[ involvement \] /  /'
    grep -E '^\[  (FAILED|PASSED|SKIPPED) ' "$OUT/normal.log" | sed 's/^/  /' | tail -n 12
  fi
} | tee "$OUT/figures.txt"
