#!/usr/bin/env bash
# Regenerates, from the shared real data (never copied into the repository), the reference files the default
# models' training, their evaluation and the demo use, deterministically, with an overlay montage per case:
#   A0001.nii.gz               Lung-PET-CT-Dx A0001 series 2 (64 slices, 5 mm), resampled in-plane from 512x512 at
#                              0.842 mm to 256x256 at 1.684 mm, int16 HU      (pulmo convert --spacing 1.6836,1.6836,0)
#   A0002.nii.gz               Lung-PET-CT-Dx A0002 series 3 (30 slices, 8 mm, held out from every model), resampled
#                              in-plane from 512x512 at 0.6465 mm to 256x256 at 1.293 mm, int16 HU
#   NAME_lungs.nii.gz          lung labels (1 right, 2 left) of A0001, A0002 and the TotalSegmentator chest crops
#                              pulmonary_ct_cropped and aorta_ct_cropped, from pulmo's classical segmentation
#                              (pulmo quantify CT --lungs classical --no-lesions); no voxel edited by hand
#   montage/NAME.png           8 axial slices with the labels drawn over the CT (pulmo overlay): check them by eye
# The files are byte-identical to the ones the shipped default models were trained and evaluated with (compared
# 2026-12-03). Checked by eye on the montages: both lungs on every CT, the trachea and main bronchi left out (a thin
# rim around a main bronchus remains in a few slices), the diaphragm domes and the outside air left out; dense
# tumour is left out of the lung label (A0002: a hole in the right lower lobe, axial slice 12; A0001: the left upper
# lobe mass, slice 47). No voxel was edited by hand.
#
#   scripts/make-reference-labels.sh [OUT [NAME...]]   (OUT default build/reference-labels; NAME: A0001 A0002
#                                                      pulmonary_ct_cropped aorta_ct_cropped, default all)
#   About 45 s of CPU for all four (9 min wall on the shared 2-core machine at load 9).
#   FORCE=1 scripts/make-reference-labels.sh           # remake files that are already there (else they are kept)
# The shared data: $PULMO_DATA, else ../shared/data beside the checkout (scripts/lib/data.sh). Exit 3 when absent.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/data.sh
OUT=${1:-build/reference-labels}
shift $(($# > 0 ? 1 : 0))
ONLY=" $* "
P=${PULMO:-./build/pulmo}
pulmo_require_data make-reference-labels ct/lung-pet-ct-dx/A0001_series2 ct/lung-pet-ct-dx/A0002_series3 \
  ct/totalsegmentator/pulmonary_ct_cropped.nii.gz ct/totalsegmentator/aorta_ct_cropped.nii.gz
D=$(pulmo_data_dir)
[ -x "$P" ] || { echo "make-reference-labels: $P is missing: build it first (scripts/build.sh)" >&2; exit 3; }
mkdir -p "$OUT/montage"

# name | image under the shared data | in-plane spacing of the resampled copy (empty: the file is used as it is)
CASES=(
  "A0001|ct/lung-pet-ct-dx/A0001_series2|1.6836"
  "A0002|ct/lung-pet-ct-dx/A0002_series3|1.293"
  "pulmonary_ct_cropped|ct/totalsegmentator/pulmonary_ct_cropped.nii.gz|"
  "aorta_ct_cropped|ct/totalsegmentator/aorta_ct_cropped.nii.gz|"
)
fresh() { [ "${FORCE:-0}" != 1 ] && [ -s "$1" ]; }
for c in "${CASES[@]}"; do
  IFS='|' read -r name src spacing <<<"$c"
  [ "$ONLY" = "  " ] || [[ $ONLY == *" $name "* ]] || continue
  ct=$D/$src
  if [ -n "$spacing" ]; then  # a DICOM series, resampled (pulmo convert writes atomically)
    ct=$OUT/$name.nii.gz
    fresh "$ct" || $P -q convert "$D/$src" "$ct" --dtype int16 --spacing "$spacing,$spacing,0"
  fi
  lungs=$OUT/${name}_lungs.nii.gz
  if ! fresh "$lungs"; then
    tmp=$OUT/.quantify-$name
    rm -rf "$tmp"
    $P -q quantify "$ct" --out "$tmp" --lungs classical --no-lesions --no-html --no-dicom-seg >/dev/null
    mv -f "$tmp/lungs.nii.gz" "$lungs"
    rm -rf "$tmp"
  fi
  fresh "$OUT/montage/$name.png" || $P -q overlay "$ct" "$lungs" --out "$OUT/montage/$name.png" --slices 8 --columns 4
  echo "$name: $ct, $lungs, $OUT/montage/$name.png"
done
