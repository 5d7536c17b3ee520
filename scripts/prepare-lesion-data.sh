#!/usr/bin/env bash
# Builds the lesion model's training manifest from the real data in ../shared/data (nothing of it is copied into
# the repository; everything lands in the work folder):
#   - COVID-SemiSeg (../shared/data/ct/covid-semiseg): 50 expert-labelled COVID-19 slices (ground-glass /
#     consolidation) and 1600 slices of the 20 COVID-19-CT-Seg volumes with pseudo labels (binary), imported by
#     `pulmo dataset import covid-semiseg` (8-bit exports -> approximate HU, one rule: docs/datasets.md);
#   - real chest CTs without COVID-19 as lesion-free cases (`lesions` = none), each drawn NEG_REPEAT times as often
#     as a slice (manifest attribute `repeat`), so that normal lung - dependent density, fissures, vessels, the
#     chest wall - is a fair share of the patches. Held out from them (the false-positive check of the model card):
#     the Lung-PET-CT-Dx A0002 series (the demo CT) and the two LIDC slices.
#
#   scripts/prepare-lesion-data.sh WORK_FOLDER
#     -> WORK_FOLDER/manifest-lesions.csv (training), manifest-expert.csv (the 50 expert slices, for cross-validation)
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:?usage: scripts/prepare-lesion-data.sh WORK_FOLDER}
. scripts/lib/data.sh
pulmo_require_data prepare-lesion-data ct/covid-semiseg ct/lung-pet-ct-dx/A0001_series2 ct/totalsegmentator
D=$(pulmo_data_dir)
P=${PULMO:-./build/pulmo}
NEG_REPEAT=${NEG_REPEAT:-40}
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
header=$(head -1 "$W/semiseg/manifest.csv")
[ "$header" = "case_id,patient_id,dataset,image,lungs,lesions,convention,hu_calibration,set" ] ||
  { echo "prepare-lesion-data: unexpected import manifest columns: $header" >&2; exit 1; }
semiseg_rows() {  # the imported rows with absolute paths
  tail -n +2 "$W/semiseg/manifest.csv" | awk -F, -v base="$W/semiseg/" 'BEGIN{OFS=","} {$4=base $4; $6=base $6; print}'
}
{
  echo "$header,repeat"
  semiseg_rows | sed 's/$/,/'
  for n in "${NEGATIVES[@]}"; do
    IFS='|' read -r name image <<<"$n"
    echo "normal_$name,normal_$name,normal-ct,$image,,none,pulmo,,normal,$NEG_REPEAT"
  done
} >"$W/manifest-lesions.csv"
{
  echo "$header"
  semiseg_rows | awk -F, '$9 == "expert"'
} >"$W/manifest-expert.csv"
echo "prepare-lesion-data: $(($(wc -l <"$W/manifest-lesions.csv") - 1)) training cases -> $W/manifest-lesions.csv"
