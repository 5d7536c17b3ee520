#!/usr/bin/env bash
# Retrains every shipped default model of the cascade from scratch (models/{lung_box,lungs,lesions}) on the
# data in this repository, then evaluates them on the held-out cases (scripts/evaluate-default-models.sh).
#
#   scripts/train-default-models.sh            # about 2 h on a 2-core x86-64 CPU (the three models in turn)
#   JOBS=3 scripts/train-default-models.sh     # the three trainings side by side (same total CPU time)
#   MODELS=lesions scripts/train-default-models.sh   # only the named models (space-separated)
#
# Training data (docs/quantify.md, models/*/MODEL_CARD.md):
#   - real chest CTs in data/train/ with lung labels from the classical segmentation, checked slice by slice;
#   - the same CTs with synthetic COVID-19 lesions inserted (pulmo synth --insert-into), lungs kept as lung;
#   - synthetic chest phantoms (pulmo synth) with varied fields of view, slice thickness, noise and involvement.
# Held out from all of it: data/holdout/ (a real full-chest CT) and the phantom seeds of the evaluation script.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/pulmo ] || scripts/build.sh
W=${PULMO_TRAIN_WORK:-build/train-work}
JOBS=${JOBS:-1}
MODELS=${MODELS:-lung_box lungs lesions}
THREADS=${THREADS:-0}
P="./build/pulmo --threads $THREADS"
mkdir -p "$W"

# --- training cases ---------------------------------------------------------------------------------------------
# Real CTs: name, image, lung labels, label convention.
REAL=(
  "A0001|data/train/A0001.nii.gz|data/train/A0001_lungs.nii.gz|pulmo"
  "pulmonary|data/ct/totalsegmentator/pulmonary_ct_cropped.nii.gz|data/train/pulmonary_ct_cropped_lungs.nii.gz|pulmo"
  "aorta|data/train/aorta_ct_cropped.nii.gz|data/train/aorta_ct_cropped_lungs.nii.gz|pulmo"
  "example_ct_sm|data/ct/totalsegmentator/example_ct_sm.nii.gz|data/ct/totalsegmentator/example_seg.nii.gz|totalsegmentator"
)
if [ ! -f "$W/.data-done" ]; then
  rm -rf "$W/synth"
  mkdir -p "$W/synth"
  seed=100
  for r in "${REAL[@]}"; do
    IFS='|' read -r name ct lungs conv <<<"$r"
    [ "$conv" = pulmo ] || continue   # lesions go into CTs whose lung labels cover the whole lungs
    seed=$((seed + 1))
    $P synth --out "$W/synth/insert_$name" --count 4 --seed $seed --insert-into "$ct" --lung-mask "$lungs" \
      --involvement 0.02:0.7 --consolidation 0.3
  done
  $P synth --out "$W/synth/phantom_thick" --count 8 --seed 201 --size 400,400,60 --spacing 0.85,0.85,5 --involvement 0:0.75
  $P synth --out "$W/synth/phantom_thin" --count 6 --seed 202 --size 360,360,120 --spacing 0.8,0.8,2.5 --involvement 0:0.6 --crazy-paving
  $P synth --out "$W/synth/phantom_partial" --count 4 --seed 203 --size 420,420,48 --spacing 0.9,0.9,5 --involvement 0:0.5 \
    --lung-z-coverage 1.3 --noise 30
  touch "$W/.data-done"
fi
# Lesion-free copies of the same real CTs (an all-zero lesion label): what teaches the lesion model that normal,
# dependent lung is not ground-glass. They keep their CT's patient id, like the inserted cases.
if [ ! -f "$W/.negatives-done" ]; then
  for r in "${REAL[@]}"; do
    IFS='|' read -r name ct lungs conv <<<"$r"
    [ "$conv" = pulmo ] || continue
    rm -rf "$W/synth/normal_$name"
    $P synth --out "$W/synth/normal_$name" --count 1 --seed 300 --insert-into "$ct" --lung-mask "$lungs" --involvement 0
  done
  touch "$W/.negatives-done"
fi

# Manifests: lesions (inserted + lesion-free copies + phantoms) and lungs (real + inserted + phantoms: the lesion-
# free copies would only repeat the real CTs). Inserted and lesion-free cases keep their CT's patient id, so no
# patient is on both sides of the validation split.
abs() { readlink -f "$1"; }
{
  echo "case_id,patient_id,image,lungs,lesions,convention"
  for r in "${REAL[@]}"; do
    IFS='|' read -r name ct lungs conv <<<"$r"
    echo "real_$name,$name,$(abs "$ct"),$(abs "$lungs"),,$conv"
  done
} >"$W/manifest-real.csv"
synth_rows() {  # folder -> rows with absolute paths; insert_* cases take the CT's name as patient id
  local dir=$1 patient=$2
  tail -n +2 "$dir/manifest.csv" | while IFS=, read -r case_id patient_id dataset image lungs lesions convention rest; do
    [ -n "$patient" ] && patient_id=$patient
    echo "$(basename "$dir")_$case_id,$patient_id,$(abs "$dir/$image"),$(abs "$dir/$lungs"),$(abs "$dir/$lesions"),pulmo"
  done
}
head -1 "$W/synth/phantom_thick/manifest.csv" | grep -q '^case_id,patient_id,dataset,image,lungs,lesions,convention' ||
  { echo "train-default-models: unexpected synth manifest columns" >&2; exit 1; }

{
  echo "case_id,patient_id,image,lungs,lesions,convention"
  for d in "$W"/synth/*/; do
    d=${d%/}
    case $(basename "$d") in
      insert_* | normal_*) synth_rows "$d" "$(basename "$d" | sed 's/^[a-z]*_//')" ;;
      *) synth_rows "$d" "" ;;
    esac
  done
} >"$W/manifest-lesions.csv"
{
  cat "$W/manifest-real.csv"
  tail -n +2 "$W/manifest-lesions.csv" | grep -v '^normal_'
} >"$W/manifest-lungs.csv"
$P dataset check "$W/manifest-lungs.csv" >/dev/null
$P dataset check "$W/manifest-lesions.csv" >/dev/null

# --- training -----------------------------------------------------------------------------------------------------
train() {  # model name
  cp "models/recipes/$1.yaml" "$W/$1.yaml"
  $P train --config "$W/$1.yaml" --output "$W/$1" --resume 2>&1 | tee "$W/$1.log" | grep -E --line-buffered 'fold|step [0-9]+/[0-9]+ .*(ETA|100.0%)'
}
for m in $MODELS; do
  [ -f "models/recipes/$m.yaml" ] || { echo "train-default-models: no recipe models/recipes/$m.yaml" >&2; exit 1; }
done
if [ "$JOBS" -gt 1 ]; then
  for m in $MODELS; do train "$m" & done
  wait
else
  for m in $MODELS; do train "$m"; done
fi

# --- install into models/ -------------------------------------------------------------------------------------
for m in $MODELS; do
  mkdir -p "models/$m"
  cp "$W/$m/model.json" "$W/$m/weights.pt" "$W/$m/log.csv" "$W/$m/curves.png" "models/$m/"
  cp "models/recipes/$m.yaml" "models/$m/config.yaml"
done
echo "train-default-models: models installed in models/; evaluate them with scripts/evaluate-default-models.sh"
