#!/usr/bin/env bash
# Quick start, command 1: install, build, and run pulmo's main job on the shipped real chest CT.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
CT=${1:-data/ct/totalsegmentator/pulmonary_ct_cropped.nii.gz}
echo
echo "== pulmo info $CT"
./build/pulmo info "$CT"
