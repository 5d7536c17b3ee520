#!/usr/bin/env bash
# Builds the lesion model's training manifest from the real data in ../shared/data (nothing of it is copied into
# the repository; everything lands in the work folder):
#   - COVID-SemiSeg (../shared/data/ct/covid-semiseg): 50 expert-labelled COVID-19 slices (ground-glass /
#     consolidation) and 1600 slices of the 20 COVID-19-CT-Seg volumes with pseudo labels (binary), imported by
#     `pulmo dataset import covid-semiseg` (8-bit exports -> approximate HU, one rule: docs/datasets.md);
#   - real chest CTs without COVID-19 as lesion-free cases (`lesions` = none), each drawn NEG_REPEAT times as often
#     as a slice (manifest attribute `repeat`), so that normal lung - dependent density, fissures, vessels, the
#     chest wall - is a fair share of the patches. Held out from them (the false-positive check of the model card):
#     the Lung-PET-CT-Dx A0002 series (the demo CT) and the two LIDC slices;
#   - synthetic 3-D insertions: real COVID-19 lesion shapes (the radiologists' masks of MosMedData,
#     ../shared/data/ct/mosmed-masks) inserted into the real normal CTs with checked lung labels (`pulmo synth
#     --insert-into --shapes`), INSERT_COUNT per CT at 2-80 % involvement, each drawn INSERT_REPEAT times as often as a
#     slice: what keeps the involvement right in 3-D, in real HU, and on dense lung (the expert slices are 8-bit
#     exports whose HU are approximate).
#
#   scripts/prepare-lesion-data.sh WORK_FOLDER
#     -> WORK_FOLDER/manifest-lesions.csv (training), manifest-expert.csv (the 50 expert slices, for cross-validation)
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:?usage: scripts/prepare-lesion-data.sh WORK_FOLDER}
. scripts/lib/data.sh
pulmo_require_data prepare-lesion-data ct/covid-semiseg ct/lung-pet-ct-dx/A0001_series2 ct/totalsegmentator ct/mosmed-masks
D=$(pulmo_data_dir)
P=${PULMO:-./build/pulmo}
NEG_REPEAT=${NEG_REPEAT:-40}
EXPERT_REPEAT=${EXPERT_REPEAT:-10}   # each expert slice drawn this many times as often as a pseudo slice
INSERT_COUNT=${INSERT_COUNT:-0}     # synthetic insertions per real CT with lung labels (0: none; 8 was measured worse)
INSERT_REPEAT=${INSERT_REPEAT:-20}
mkdir -p "$W"
W=$(readlink -f "$W")
D=$(readlink -f "$D")
[ -f "$W/semiseg/manifest.csv" ] || $P dataset import covid-semiseg "$D/ct/covid-semiseg" --out "$W/semiseg" --overwrite
# Lesion-free real CTs: name | image.
NEGATIVES=(
  "A0001|$D/ct/lung-pet-ct-dx/A0001_series2"
  "pulmonary|$D/ct/totalsegmentator/pulmonary_ct_cropped.nii.gz"
  "aorta|$D/ct/totalsegmentator/aorta_ct_cropped.nii.gz"
  "example_ct_sm|$D/ct/totalsegmentator/example_ct_sm.nii.gz"
)
# Real normal CTs with checked lung labels (scripts/train-default-models.sh): name | image | lung labels.
# Their lung labels are regenerated from the shared images by scripts/make-reference-labels.sh (never committed).
REF=${PULMO_REFERENCE:-build/reference-labels}
INSERT_INTO=(
  "A0001|$REF/A0001.nii.gz|$REF/A0001_lungs.nii.gz"
  "pulmonary|$D/ct/totalsegmentator/pulmonary_ct_cropped.nii.gz|$REF/pulmonary_ct_cropped_lungs.nii.gz"
  "aorta|$D/ct/totalsegmentator/aorta_ct_cropped.nii.gz|$REF/aorta_ct_cropped_lungs.nii.gz"
)
[ "$INSERT_COUNT" -gt 0 ] && scripts/make-reference-labels.sh "$REF" A0001 pulmonary_ct_cropped aorta_ct_cropped >/dev/null
if [ "$INSERT_COUNT" -gt 0 ] && [ ! -f "$W/inserted/.done-$INSERT_COUNT" ]; then
  rm -rf "$W/inserted"
  seed=500
  for r in "${INSERT_INTO[@]}"; do
    IFS='|' read -r name image lungs <<<"$r"
    seed=$((seed + 1))
    $P -q synth --out "$W/inserted/$name" --count "$INSERT_COUNT" --seed $seed --involvement 0.02:0.8 \
      --insert-into "$image" --lung-mask "$lungs" --shapes "$D/ct/mosmed-masks" >/dev/null
  done
  touch "$W/inserted/.done-$INSERT_COUNT"
fi
header=$(head -1 "$W/semiseg/manifest.csv")
[ "$header" = "case_id,patient_id,dataset,image,lungs,lesions,convention,hu_calibration,set" ] ||
  { echo "prepare-lesion-data: unexpected import manifest columns: $header" >&2; exit 1; }
semiseg_rows() {  # the imported rows with absolute paths
  tail -n +2 "$W/semiseg/manifest.csv" | awk -F, -v base="$W/semiseg/" 'BEGIN{OFS=","} {$4=base $4; $6=base $6; print}'
}
{
  echo "$header,repeat"
  semiseg_rows | awk -F, -v r="$EXPERT_REPEAT" '{print $0 "," ($9 == "expert" && r != 1 ? r : "")}'
  for n in "${NEGATIVES[@]}"; do
    IFS='|' read -r name image <<<"$n"
    echo "normal_$name,normal_$name,normal-ct,$image,,none,pulmo,,normal,$NEG_REPEAT"
  done
  if [ "$INSERT_COUNT" -gt 0 ]; then
    for r in "${INSERT_INTO[@]}"; do
      IFS='|' read -r name image lungs <<<"$r"
      # Each inserted case keeps its CT's patient (normal_<name>): one patient, however many copies.
      tail -n +2 "$W/inserted/$name/manifest.csv" | awk -F, -v n="$name" -v base="$W/inserted/$name/" -v r="$INSERT_REPEAT" \
        'BEGIN{OFS=","} {print "inserted_" n "_" $1, "normal_" n, "mosmed-shapes-inserted", base $4, base $5, base $6, "pulmo", "", "inserted", r}'
    done
  fi
} >"$W/manifest-lesions.csv"
{
  echo "$header"
  semiseg_rows | awk -F, '$9 == "expert"'
} >"$W/manifest-expert.csv"
echo "prepare-lesion-data: $(($(wc -l <"$W/manifest-lesions.csv") - 1)) training cases -> $W/manifest-lesions.csv"
