#!/usr/bin/env bash
# Quick start, command 1: install, build, and run pulmo's main job - `pulmo quantify` with the shipped models - on
# a shipped real chest CT, and on the same CT with synthetic COVID-19 lesions inserted (whose truth is known).
#   scripts/demo.sh [CT]        (default: data/holdout/A0002.nii.gz, a real full-chest CT none of the models saw)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
CT=${1:-data/holdout/A0002.nii.gz}
OUT=${OUT:-demo-output}
P=./build/pulmo
mkdir -p "$OUT"

echo
echo "== 1. pulmo quantify $CT"
$P quantify "$CT" --out "$OUT/real-ct" --overwrite

echo
echo "== 2. the same kind of CT with synthetic lesions inserted (30 % of the lungs), then pulmo quantify"
rm -rf "$OUT/inserted"
$P -q synth --out "$OUT/inserted" --count 1 --seed 7 --involvement 0.3 \
  --insert-into data/holdout/A0002.nii.gz --lung-mask data/holdout/A0002_lungs.nii.gz
$P quantify "$OUT/inserted/case_0000/ct.nii.gz" --out "$OUT/inserted-ct" --overwrite | tee "$OUT/inserted-ct.txt"
truth=$(awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i=="involved_percent") c=i} NR==2{printf "%.1f", $c}' "$OUT/inserted/manifest.csv")
echo "inserted lesions: truth ${truth} % of both lungs involved; pulmo: $(grep '^both lungs' "$OUT/inserted-ct.txt")"

echo
echo "Open the reports: $OUT/real-ct/report.html and $OUT/inserted-ct/report.html"
