#!/usr/bin/env bash
# Evaluates the default models (models/) on cases none of them was trained or validated on, with pulmo eval:
#   - held-out phantoms (seeds the training never used), involvement 0-80 %;
#   - synthetic lesions inserted into the held-out real chest CT (Lung-PET-CT-Dx A0002, resampled by
#     scripts/make-reference-labels.sh), involvement 3-75 %;
#   - the held-out real CT itself (lungs against its checked classical labels; no lesions: false positives);
#   - real CTs without COVID-19: the TotalSegmentator chest crops and the two LIDC slices (false positives,
#     lung counts against lungmask's R231 reference).
# Writes $OUT (default build/eval-default): one quantify folder per case, lungs/ and lesions/ pulmo eval outputs,
# and figures.txt with the headline numbers.
#   scripts/evaluate-default-models.sh [OUT]
# The real CTs are read from the shared data ($PULMO_DATA, else ../shared/data; scripts/lib/data.sh), the resampled
# held-out CT and the checked classical labels from $PULMO_REFERENCE (default build/reference-labels, made here).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/data.sh
pulmo_require_data evaluate-default-models ct/lung-pet-ct-dx ct/totalsegmentator ct/lidc-lungmask
[ -x build/pulmo ] || scripts/build.sh
D=$(pulmo_data_dir)
REF=${PULMO_REFERENCE:-build/reference-labels}
scripts/make-reference-labels.sh "$REF"
OUT=${1:-build/eval-default}
P="./build/pulmo --threads ${THREADS:-0}"
MODELS=${PULMO_MODELS:-models}
rm -rf "$OUT"
mkdir -p "$OUT/cases"

# Held-out cases with exact truth.
$P -q synth --out "$OUT/truth/phantoms" --count 4 --seed 901 --size 400,400,60 --spacing 0.85,0.85,5 --involvement 0.02:0.8
$P -q synth --out "$OUT/truth/phantoms_high" --count 2 --seed 902 --size 360,360,100 --spacing 0.8,0.8,3 --involvement 0.6:0.8
$P -q synth --out "$OUT/truth/inserted" --count 4 --seed 903 --insert-into "$REF/A0002.nii.gz" \
  --lung-mask "$REF/A0002_lungs.nii.gz" --involvement 0.03:0.75

echo "case,patient,kind,reference,prediction,lung_reference,lung_prediction" >"$OUT/lesions.csv"
echo "case,patient,kind,reference,prediction" >"$OUT/lungs.csv"
for set in phantoms phantoms_high inserted; do
  tail -n +2 "$OUT/truth/$set/manifest.csv" | while IFS=, read -r case_id patient_id dataset image lungs lesions convention rest; do
    id="${set}_$case_id"
    $P -q quantify "$OUT/truth/$set/$image" --out "$OUT/cases/$id" --models "$MODELS" --no-html >/dev/null
    t="truth/$set"
    echo "$id,$id,$set,$t/$lesions,cases/$id/lesions.nii.gz,$t/$lungs,cases/$id/lungs.nii.gz" >>"$OUT/lesions.csv"
    echo "$id,$id,$set,$t/$lungs,cases/$id/lungs.nii.gz" >>"$OUT/lungs.csv"
  done
done
# The held-out real CT: lungs against its checked labels.
$P -q quantify "$REF/A0002.nii.gz" --out "$OUT/cases/real_A0002" --models "$MODELS" --no-html >/dev/null
echo "real_A0002,A0002,real,$(readlink -f "$REF/A0002_lungs.nii.gz"),cases/real_A0002/lungs.nii.gz" >>"$OUT/lungs.csv"

$P -q eval --manifest "$OUT/lungs.csv" --output-dir "$OUT/lungs" --labels 1,2 --tolerance-mm 5 >/dev/null
$P -q eval --manifest "$OUT/lesions.csv" --output-dir "$OUT/lesions" --tolerance-mm 5 >/dev/null

# Real CTs without COVID-19: involvement is a false-positive rate there.
for ct in "$D/ct/totalsegmentator/pulmonary_ct_cropped.nii.gz" "$D/ct/totalsegmentator/aorta_ct_cropped.nii.gz" \
          "$D/ct/lidc-lungmask" "$REF/A0001.nii.gz" "$REF/A0002.nii.gz"; do
  name=$(basename "$ct" | sed 's/\.nii\.gz$//')
  $P -q quantify "$ct" --out "$OUT/cases/nocovid_$name" --models "$MODELS" --no-html >"$OUT/cases/nocovid_$name.txt"
done

{
  echo "pulmo default models, held-out evaluation ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
  echo "lungs (labels 1 right, 2 left): see $OUT/lungs/summary.md"
  echo "lesions and involvement: see $OUT/lesions/summary.md"
  echo "real CTs without COVID-19 (pulmo quantify's summary lines; involvement there is false positives):"
  for f in "$OUT"/cases/nocovid_*.txt; do
    printf '  %s\n' "$(basename "$f" .txt)"
    sed 's/^/    /' "$f"
  done
  echo "LIDC slices, lung voxels: right $(grep -o '"lung_voxels": [0-9]*' "$OUT/cases/nocovid_lidc-lungmask/report.json" | \
    sed -n 1p | grep -o '[0-9]*$') vs lungmask R231 64752, left $(grep -o '"lung_voxels": [0-9]*' \
    "$OUT/cases/nocovid_lidc-lungmask/report.json" | sed -n 2p | grep -o '[0-9]*$') vs 36536"
} | tee "$OUT/figures.txt"
