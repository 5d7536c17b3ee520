#!/usr/bin/env bash
# Rewrites the generated key tables of docs/training.md and docs/cxr.md (between their "BEGIN config-table" and
# "END config-table" comments) from the configuration schemas, as `pulmo train --print-config-table` and
# `pulmo cxr train --print-config-table` print them. The unit test ConfigTables fails until this has run after a
# key, default or description changed.
#   scripts/refresh-config-tables.sh [PULMO]     (PULMO: the pulmo executable; default build/pulmo)
set -euo pipefail
cd "$(dirname "$0")/.."
PULMO=${1:-build/pulmo}
[ -x "$PULMO" ] || { echo "no pulmo executable at '$PULMO' (build first, or name it)" >&2; exit 2; }

# splice FILE COMMAND...: the output of COMMAND replaces the lines between the markers of FILE.
splice() {
  local file=$1
  shift
  grep -q '^<!-- BEGIN config-table' "$file" && grep -q '^<!-- END config-table' "$file" ||
    { echo "$file: no BEGIN/END config-table markers" >&2; exit 1; }
  local table out
  table=$(mktemp)
  out=$(mktemp)
  "$PULMO" "$@" > "$table"
  awk -v table="$table" '
    /^<!-- BEGIN config-table/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
    /^<!-- END config-table/ { skip = 0 }
    !skip { print }' "$file" > "$out"
  cat "$out" > "$file"
  rm -f "$table" "$out"
  echo "refreshed $file"
}

splice docs/training.md train --print-config-table
splice docs/cxr.md cxr train --print-config-table
