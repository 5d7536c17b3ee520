#!/usr/bin/env bash
# Installs every Debian package pulmo needs to build, test and run. Unattended, idempotent.
# Debian 12 (bookworm). Run as root, or as a user with sudo.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev                       # LibTorch 1.13 (CPU)
  libopenblas0-openmp                # fast BLAS for LibTorch: 171 vs 5.5 GFLOP/s with the reference BLAS
  libinsighttoolkit5-dev             # ITK 5.2: image IO and filters
  libgdcm-dev libgdcm-tools          # DICOM (ITK's CMake config needs libgdcm-tools installed)
  libdcmtk-dev                       # DICOM Segmentation output (DCMTK dcmseg)
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev libpng-dev zlib1g-dev
  libyaml-cpp-dev                    # YAML training configs (pulmo train)
  libssl-dev                         # SHA-256 of model weights in reports (OpenSSL libcrypto)
  libcurl4-openssl-dev               # HTTP(S) client for DICOMweb (pulmo quantify dicomweb+http://...)
  orthanc orthanc-dicomweb           # the PACS the DICOMweb integration tests start on loopback (docs/integration.md)
  libsqlite3-dev                     # the durable queue of pulmo serve
  clang libclang-rt-14-dev           # the bounded fuzzing run of the test suite: libFuzzer + AddressSanitizer (docs/fuzzing.md)
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-deps: run as root (or install sudo)" >&2; exit 1
  fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# LibTorch (Debian) calls whatever libblas.so.3 the alternatives system selects: make it OpenBLAS (OpenMP).
blas=/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3
if [ -e "$blas" ] && command -v update-alternatives >/dev/null; then
  $SUDO update-alternatives --set libblas.so.3-x86_64-linux-gnu "$blas" >/dev/null 2>&1 || true
fi

# NiiVue, the viewer embedded in report.html, from the npm registry (optional: without npm the reports carry the
# static pictures only). Node.js with npm: Debian `npm`, or any Node.js 20+. Headless Chromium (Debian `chromium`)
# is needed only by the viewer's test.
if command -v npm >/dev/null; then
  "$(dirname "$0")/fetch-niivue.sh" || echo "install-deps: NiiVue not fetched: report.html will have no interactive viewer" >&2
else
  echo "install-deps: npm not found: report.html will have no interactive viewer (install Node.js/npm, then scripts/fetch-niivue.sh)" >&2
fi
