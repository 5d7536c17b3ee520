#!/usr/bin/env bash
# Cross-validates the lesion model's recipe on the 50 expert-labelled COVID-SemiSeg slices, as the COVID-SemiSeg
# benchmark reports its models: 5 folds of the expert slices (seed 1); each fold's model trains on the other 40
# expert slices + every pseudo-labelled slice + the lesion-free real CTs (pseudo slices are never tested), then
# segments its 10 held-out slices on their own (`pulmo segment`: the lesion model alone on the whole slice, as the
# benchmark's networks do) and through the whole cascade (`pulmo quantify`: its own lungs, the HU rule, lesions
# kept inside the lungs). `pulmo eval` gives the mean Dice over slices with bootstrap 95 % CIs: infection (any
# lesion) against the benchmark's GT masks, ground-glass and consolidation against GT-classes.
#
#   scripts/cv-lesion-model.sh                   # all 5 folds (about 20-25 min per fold on one core)
#   FOLDS="1 2" scripts/cv-lesion-model.sh       # some folds (resumable: finished folds are kept)
#   RECIPE=models/recipes/lesions.yaml (default)   WORK=build/train-work/lesion-data (default; shared with
#   scripts/train-default-models.sh, which trains the shipped model on every slice)
#   CV=DIR                                       # the folds' models and figures (default WORK/cv; one per recipe)
set -euo pipefail
cd "$(dirname "$0")/.."
RECIPE=${RECIPE:-models/recipes/lesions.yaml}
W=${WORK:-${PULMO_TRAIN_WORK:-build/train-work}/lesion-data}
FOLDS=${FOLDS:-1 2 3 4 5}
THREADS=${THREADS:-1}
P="${PULMO:-./build/pulmo} --threads $THREADS"
[ -x build/pulmo ] || scripts/build.sh
scripts/prepare-lesion-data.sh "$W" >/dev/null
W=$(readlink -f "$W")
CV=${CV:-$W/cv}
mkdir -p "$CV"
CV=$(readlink -f "$CV")
mkdir -p "$CV"
$P dataset split "$W/manifest-expert.csv" --k 5 --validation 0 --seed 1 --csv --out "$CV/folds.csv"

for f in $FOLDS; do
  F=$CV/fold_$f
  mkdir -p "$F"
  awk -F, -v f="$f" '$1 == f && $2 == "test" {print $3}' "$CV/folds.csv" >"$F/test-ids.txt"
  # Training rows: everything but this fold's test slices.
  awk -F, 'NR == FNR {skip[$1] = 1; next} FNR == 1 || !($1 in skip)' "$F/test-ids.txt" "$W/manifest-lesions.csv" >"$F/manifest.csv"
  sed "s|^  manifest: .*|  manifest: manifest.csv|" "$RECIPE" >"$F/config.yaml"
  if [ ! -f "$F/model/weights.pt" ]; then
    echo "== fold $f: training on $(($(wc -l <"$F/manifest.csv") - 1)) rows, testing $(wc -l <"$F/test-ids.txt") expert slices"
    $P train --config "$F/config.yaml" --output "$F/model" --resume 2>&1 | tee "$F/train.log" |
      grep -E --line-buffered 'step [0-9]+/[0-9]+ .*(ETA|100.0%)' | awk 'NR % 10 == 1'
  fi
  mkdir -p "$F/pred"
  while read -r id; do
    img=$W/semiseg/images/$id.nii.gz
    [ -f "$F/pred/$id-infection.nii.gz" ] || $P -q segment "$F/model" "$img" --out "$F/pred/$id-infection.nii.gz" --merge-labels
    [ -f "$F/pred/$id-classes.nii.gz" ] || $P -q segment "$F/model" "$img" --out "$F/pred/$id-classes.nii.gz"
    if [ ! -f "$F/pred/$id-cascade/lesions.nii.gz" ]; then
      rm -rf "$F/pred/$id-cascade-models"
      mkdir -p "$F/pred/$id-cascade-models"
      cp -r models/cascade.json models/lung_box models/lungs "$F/pred/$id-cascade-models/"
      cp -r "$F/model" "$F/pred/$id-cascade-models/lesions"
      $P -q quantify "$img" --out "$F/pred/$id-cascade" --models "$F/pred/$id-cascade-models" --no-html --overwrite \
        >/dev/null 2>"$F/pred/$id-cascade.err" || echo "fold $f: $id: cascade failed ($(tail -1 "$F/pred/$id-cascade.err"))"
      rm -rf "$F/pred/$id-cascade-models"
    fi
  done <"$F/test-ids.txt"
done

# Evaluation over every finished fold.
{
  echo "case_id,patient_id,reference,prediction"
  for f in $FOLDS; do
    while read -r id; do echo "$id,$id,$W/semiseg/infection/$id.nii.gz,$CV/fold_$f/pred/$id-infection.nii.gz"; done <"$CV/fold_$f/test-ids.txt"
  done
} >"$CV/eval-infection.csv"
{
  echo "case_id,patient_id,reference,prediction"
  for f in $FOLDS; do
    while read -r id; do echo "$id,$id,$W/semiseg/lesions/$id.nii.gz,$CV/fold_$f/pred/$id-classes.nii.gz"; done <"$CV/fold_$f/test-ids.txt"
  done
} >"$CV/eval-classes.csv"
{
  echo "case_id,patient_id,reference,prediction"
  for f in $FOLDS; do
    while read -r id; do
      [ -f "$CV/fold_$f/pred/$id-cascade/lesions.nii.gz" ] &&
        echo "$id,$id,$W/semiseg/lesions/$id.nii.gz,$CV/fold_$f/pred/$id-cascade/lesions.nii.gz"
    done <"$CV/fold_$f/test-ids.txt"
  done
} >"$CV/eval-cascade.csv"
$P -q eval --manifest "$CV/eval-infection.csv" --output-dir "$CV/eval-infection" --binary --labels 1 --tolerance-mm 5
$P -q eval --manifest "$CV/eval-classes.csv" --output-dir "$CV/eval-classes" --labels 1,2 --tolerance-mm 5
$P -q eval --manifest "$CV/eval-cascade.csv" --output-dir "$CV/eval-cascade" --labels 1,2 --tolerance-mm 5
echo "cv-lesion-model: $CV/eval-infection/summary.md, $CV/eval-classes/summary.md, $CV/eval-cascade/summary.md"
