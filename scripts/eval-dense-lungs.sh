#!/usr/bin/env bash
# Dense lung is lung (issue 17): evaluates the lung stage on the held-out real CT (Lung-PET-CT-Dx A0002, never in
# any training) with dense lesions inserted, and on the real normal CTs against their checked classical labels.
#   - dense: A0002 with lesions inserted at 60-80 % involvement, 60 % of the lesion volume consolidation
#     (pulmo synth --insert-into): 3 procedural (seed 951) and 3 with the real lesion shapes of the 10 MosMedData
#     masks that the lung model's training does not use (the last 10 of ../shared/data/ct/mosmed-masks in name
#     order, seed 952). Truth: A0002's lung label (the lesions lie inside it) and the inserted consolidation.
#   - normal: A0002, A0001, pulmonary_ct_cropped, aorta_ct_cropped against their classical reference labels
#     (scripts/make-reference-labels.sh; A0002 is held out, the other three are training CTs of the lung model).
# For each lung method (METHODS, default "cascade hybrid"; cascade = the network): pulmo quantify --no-lesions,
# pulmo eval (vDSC, sDSC at 2 and 5 mm, per lung, means with bootstrap 95 % intervals by patient) and, per dense case,
# the share of the inserted consolidation outside the predicted lungs (scripts/lib/outside-lungs.py).
#   scripts/eval-dense-lungs.sh [OUT]          (default build/eval-dense-lungs)
#   PULMO_MODELS=build/models-x scripts/eval-dense-lungs.sh build/eval-x    # another models folder
#   SETS="dense" METHODS="cascade" ...         # a part only
# Writes OUT/figures.txt (the headline numbers), OUT/<set>-<method>/ (pulmo eval's summary.md, cases.csv),
# OUT/cases/ (quantify folders) and OUT/truth/ (the inserted cases). About 1 min per case and method on 2 busy cores.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/data.sh
pulmo_require_data eval-dense-lungs ct/lung-pet-ct-dx ct/totalsegmentator ct/mosmed-masks
PULMO=${PULMO:-./build/pulmo}
[ -x "$PULMO" ] || scripts/build.sh
D=$(pulmo_data_dir)
REF=${PULMO_REFERENCE:-build/reference-labels}
PULMO=$PULMO scripts/make-reference-labels.sh "$REF" >/dev/null
OUT=${1:-build/eval-dense-lungs}
P="$PULMO --threads ${THREADS:-1}"
MODELS=${PULMO_MODELS:-models}
SETS=${SETS:-dense normal}
METHODS=${METHODS:-cascade hybrid}
mkdir -p "$OUT/cases"
abs() { readlink -f "$1"; }

if [[ " $SETS " == *" dense "* ]] && [ ! -f "$OUT/truth/.done" ]; then
  rm -rf "$OUT/truth" "$OUT/mosmed-eval"
  mkdir -p "$OUT/truth" "$OUT/mosmed-eval"
  masks=("$D"/ct/mosmed-masks/*.nii.gz)   # name order
  for m in "${masks[@]: -10}"; do ln -s "$(abs "$m")" "$OUT/mosmed-eval/"; done
  $P -q synth --out "$OUT/truth/procedural" --count 3 --seed 951 --insert-into "$REF/A0002.nii.gz" \
    --lung-mask "$REF/A0002_lungs.nii.gz" --involvement 0.6:0.8 --consolidation 0.6 >/dev/null
  $P -q synth --out "$OUT/truth/shapes" --count 3 --seed 952 --insert-into "$REF/A0002.nii.gz" \
    --lung-mask "$REF/A0002_lungs.nii.gz" --involvement 0.6:0.8 --consolidation 0.6 --shapes "$OUT/mosmed-eval" >/dev/null
  touch "$OUT/truth/.done"
fi

# case id | CT | reference lungs | consolidation truth (dense cases) - per set
cases() {
  case $1 in
    dense)
      for s in procedural shapes; do
        tail -n +2 "$OUT/truth/$s/manifest.csv" | while IFS=, read -r case_id _ _ image lungs lesions _; do
          echo "${s}_$case_id|$OUT/truth/$s/$image|$OUT/truth/$s/$lungs|$OUT/truth/$s/$lesions"
        done
      done ;;
    normal)
      echo "A0002|$REF/A0002.nii.gz|$REF/A0002_lungs.nii.gz|"
      echo "A0001|$REF/A0001.nii.gz|$REF/A0001_lungs.nii.gz|"
      echo "pulmonary|$D/ct/totalsegmentator/pulmonary_ct_cropped.nii.gz|$REF/pulmonary_ct_cropped_lungs.nii.gz|"
      echo "aorta|$D/ct/totalsegmentator/aorta_ct_cropped.nii.gz|$REF/aorta_ct_cropped_lungs.nii.gz|" ;;
  esac
}

: >"$OUT/outside.txt.tmp"
for set in $SETS; do
  for m in $METHODS; do
    man=$OUT/$set-$m.csv
    echo "case_id,patient_id,reference,prediction" >"$man"
    while IFS='|' read -r id ct ref cons; do
      q=$OUT/cases/$set-$m-$id
      [ -s "$q/lungs.nii.gz" ] || { rm -rf "$q"; $P -q quantify "$ct" --out "$q" --models "$MODELS" --lungs "$m" \
        --no-lesions --no-html --no-dicom-seg >/dev/null; }
      # every inserted case is its own patient here: the intervals are over the 6 insertions
      echo "$id,$id,$(abs "$ref"),$(abs "$q/lungs.nii.gz")" >>"$man"
      [ -z "$cons" ] || echo "$set $m $id $(scripts/lib/outside-lungs.py "$cons" "$q/lungs.nii.gz" 2)" >>"$OUT/outside.txt.tmp"
    done < <(cases "$set")
    rm -rf "$OUT/$set-$m"
    $P -q eval --manifest "$man" --output-dir "$OUT/$set-$m" --labels 1,2 --tolerance-mm 2 5 --bootstrap 1000 >/dev/null
  done
done
mv -f "$OUT/outside.txt.tmp" "$OUT/outside.txt"

{
  echo "eval-dense-lungs: models $MODELS ($(date -u +%Y-%m-%dT%H:%MZ))"
  for set in $SETS; do
    for m in $METHODS; do
      echo "== $set, --lungs $m: $OUT/$set-$m/summary.md"
      awk '/^## Label [12]: all cases/ { l = ($3 == "1:") ? "right" : "left" }
           l && /^\| (dice|surface_dice_2mm|surface_dice_5mm) / { printf "  %-5s %-16s %s\n", l, $2, $6 " " $7 " " $8 }
           /^## / && !/all cases/ { l = "" }' "$OUT/$set-$m/summary.md"
    done
  done
  if [ -s "$OUT/outside.txt" ]; then
    echo "== inserted consolidation outside the predicted lungs (set method case: voxels outside percent)"
    cat "$OUT/outside.txt"
    awk '{ n[$2]++; s[$2] += $6; if (!($2 in hi) || $6 > hi[$2]) hi[$2] = $6 }
         END { for (m in n) printf "  %s: mean %.1f %%, worst %.1f %% (%d cases)\n", m, s[m] / n[m], hi[m], n[m] }' "$OUT/outside.txt"
  fi
} | tee "$OUT/figures.txt"
