#!/usr/bin/env python3
"""Share of a lesion label that lies outside a lung mask, for two NIfTI label maps on one grid (Python standard
library only: gzip + struct).

    scripts/lib/outside-lungs.py LESIONS LUNGS [LABEL]    (LABEL default 2: consolidation of pulmo synth)

Prints: label_voxels outside_voxels outside_percent. Exit 2 on unreadable files or different grids."""
import gzip
import struct
import sys
from array import array

TYPES = {2: "B", 4: "h", 8: "i", 16: "f", 64: "d", 256: "b", 512: "H", 768: "I"}


def read(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    end = "<" if struct.unpack("<i", data[:4])[0] == 348 else ">"
    if struct.unpack(end + "i", data[:4])[0] != 348:
        raise ValueError(f"{path}: not a NIfTI-1 file")
    dim = struct.unpack(end + "8h", data[40:56])
    dtype = struct.unpack(end + "h", data[70:72])[0]
    pixdim = struct.unpack(end + "8f", data[76:108])
    offset = int(struct.unpack(end + "f", data[108:112])[0])
    if dtype not in TYPES:
        raise ValueError(f"{path}: NIfTI datatype {dtype} not supported")
    n = 1
    for d in dim[1:1 + dim[0]]:
        n *= d
    values = array(TYPES[dtype])
    values.frombytes(data[offset:offset + n * values.itemsize])
    if (end == ">") != (sys.byteorder == "big"):
        values.byteswap()
    return dim[1:1 + dim[0]], [round(p, 3) for p in pixdim[1:1 + dim[0]]], values


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    label = int(sys.argv[3]) if len(sys.argv) == 4 else 2
    try:
        ldim, lsp, lesions = read(sys.argv[1])
        mdim, msp, lungs = read(sys.argv[2])
    except (OSError, ValueError, struct.error) as e:
        print(f"outside-lungs: {e}", file=sys.stderr)
        return 2
    if ldim != mdim or lsp != msp:
        print(f"outside-lungs: different grids {ldim} {lsp} / {mdim} {msp}", file=sys.stderr)
        return 2
    total = outside = 0
    for les, lung in zip(lesions, lungs):
        if les == label:
            total += 1
            if lung == 0:
                outside += 1
    print(f"{total} {outside} {100.0 * outside / total if total else float('nan'):.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
