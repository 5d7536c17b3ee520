# Where the shared real data is, for the scripts (sourced: `. scripts/lib/data.sh`). The one place they resolve it.
# The data is never copied into the repository (../shared/data/README.md): scripts read it by path.
#   PULMO_DATA   the shared data folder; default: ../shared/data beside the checkout.

# Prints the shared data folder (absolute when it exists).
pulmo_data_dir() {
  local d=${PULMO_DATA:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/../shared/data}
  if [ -d "$d" ]; then readlink -f "$d"; else echo "$d"; fi
}

# pulmo_require_data WHO RELATIVE...: exits 3 with a message that names the first missing folder (or file) when
# any RELATIVE path is absent under the shared data folder. WHO names the script in the message.
pulmo_require_data() {
  local who=$1 d rel path part
  shift
  d=$(pulmo_data_dir)
  for rel in "$@"; do
    [ -e "$d/$rel" ] && continue
    path=$d
    if [ -d "$d" ]; then
      for part in ${rel//\// }; do
        path=$path/$part
        [ -e "$path" ] || break
      done
    fi
    echo "$who: '$path' is missing: the shared real data (needed: $d/$rel). Put it at ../shared/data beside" \
      "the checkout, or set PULMO_DATA to its folder." >&2
    exit 3
  done
}
