#!/usr/bin/env bash
# Fetches NiiVue (the WebGL 2 viewer of report.html's interactive section) from the npm registry into
# third_party/niivue/ (ignored by git): the one-file browser bundle dist/niivue.umd.js and its package.json.
# The build embeds the bundle into pulmo when it is there (src/CMakeLists.txt); without it reports carry the
# static pictures only. Pinned version, checked against the registry's SHA-512. Idempotent; needs npm.
#   scripts/fetch-niivue.sh            # then scripts/build.sh (re-runs cmake, which picks the bundle up)
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.69.0
INTEGRITY='sha512-YMjQvJgD1W2b7DuoxkwlC4VxbrgIePRJ5qyQzXKxi2v2MBVg285P/CIQyg46oDDGDIcaNlbd+MhtO/edMbXJkA=='
DEST=third_party/niivue
if [ -f "$DEST/niivue.umd.js" ] && grep -q "\"version\": \"$VERSION\"" "$DEST/package.json" 2>/dev/null; then
  echo "fetch-niivue: NiiVue $VERSION already in $DEST"; exit 0
fi
command -v npm >/dev/null || { echo "fetch-niivue: npm not found (Debian: apt-get install npm)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "@niivue/niivue@$VERSION" >/dev/null)
tarball="$work/niivue-niivue-$VERSION.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$actual" != "$INTEGRITY" ]; then
  echo "fetch-niivue: $tarball has $actual, expected $INTEGRITY" >&2; exit 1
fi
tar -xzf "$tarball" -C "$work" package/dist/niivue.umd.js package/package.json
mkdir -p "$DEST"
cp "$work/package/package.json" "$DEST/package.json.tmp" && mv "$DEST/package.json.tmp" "$DEST/package.json"
cp "$work/package/dist/niivue.umd.js" "$DEST/niivue.umd.js.tmp" && mv "$DEST/niivue.umd.js.tmp" "$DEST/niivue.umd.js"
echo "fetch-niivue: NiiVue $VERSION (BSD-2-Clause) in $DEST ($(stat -c %s "$DEST/niivue.umd.js") bytes)"
