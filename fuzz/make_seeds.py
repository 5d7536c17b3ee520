#!/usr/bin/env python3
"""Writes the seed corpus of pulmo_fuzz_read (docs/fuzzing.md) into the folder given (default fuzz/seeds).

Each seed is one selector byte (the format: 0 .nii, 1 .nii.gz, 2 .nrrd, 3 .mha, 4 .dcm, 5 DICOM folder)
followed by the file's bytes: small valid files of every format plus small real DICOM files of the shared data
($PULMO_DATA, else ../shared/data beside the checkout; left out when it is absent).
"""
import gzip, os, struct, sys, zlib, pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "fuzz" / "seeds")
out.mkdir(parents=True, exist_ok=True)


def nifti(dim=(4, 3, 2), datatype=4, bitpix=16, pixdim=(0.8, 0.8, 2.5), slope=0.0, inter=0.0, data=None):
    h = bytearray(352)
    struct.pack_into("<i", h, 0, 348)
    struct.pack_into("<8h", h, 40, 3, *dim, 1, 1, 1, 1)
    struct.pack_into("<hh", h, 70, datatype, bitpix)
    struct.pack_into("<8f", h, 76, 1, *pixdim, 1, 1, 1, 1)
    struct.pack_into("<fff", h, 108, 352, slope, inter)
    struct.pack_into("<hh", h, 252, 1, 1)
    struct.pack_into("<4f", h, 280, 0.8, 0, 0, -10)
    struct.pack_into("<4f", h, 296, 0, 0.8, 0, -10)
    struct.pack_into("<4f", h, 312, 0, 0, 2.5, -10)
    h[344:348] = b"n+1\0"
    n = dim[0] * dim[1] * dim[2]
    if data is None:
        data = bytes((i * 7) & 0xFF for i in range(n * bitpix // 8))
    return bytes(h) + data


def seed(name, selector, payload):
    (out / name).write_bytes(bytes([selector]) + payload)


seed("nii_int16", 0, nifti())
seed("nii_uint16_scaled", 0, nifti(datatype=512, slope=1.0, inter=-1024.0))
seed("nii_float32", 0, nifti(datatype=16, bitpix=32))
seed("niigz_int16", 1, gzip.compress(nifti()))
seed("niigz_scaled", 1, gzip.compress(nifti(datatype=4, slope=2.0, inter=-10.0)))
raw = bytes(range(24)) * 2
seed("nrrd_raw", 2, b"NRRD0004\ntype: short\ndimension: 3\nsizes: 4 3 2\nspacings: 0.8 0.8 2.5\n"
                    b"endian: little\nencoding: raw\n\n" + raw)
seed("nrrd_gzip", 2, b"NRRD0004\ntype: short\ndimension: 3\nsizes: 4 3 2\nspace: left-posterior-superior\n"
                     b"space directions: (0.8,0,0) (0,0.8,0) (0,0,2.5)\nspace origin: (0,0,0)\n"
                     b"endian: little\nencoding: gzip\n\n" + gzip.compress(raw))
seed("mha_raw", 3, b"ObjectType = Image\nNDims = 3\nDimSize = 4 3 2\nElementSpacing = 0.8 0.8 2.5\n"
                   b"ElementType = MET_SHORT\nElementDataFile = LOCAL\n" + raw)
comp = zlib.compress(raw)
seed("mha_zlib", 3, b"ObjectType = Image\nNDims = 3\nBinaryData = True\nCompressedData = True\nCompressedDataSize = "
                    + str(len(comp)).encode() + b"\nDimSize = 4 3 2\nElementType = MET_SHORT\nElementDataFile = LOCAL\n" + comp)
# Real files of the shared data that are small enough to mutate quickly.
SHARED = pathlib.Path(os.environ.get("PULMO_DATA") or ROOT.parent / "shared" / "data")
if not SHARED.is_dir():
    print(f"make_seeds: {SHARED} is missing: no real DICOM seeds (set PULMO_DATA)", file=sys.stderr)
for path, selector in [("ct/lidc-lungmask/0.dcm", 4), ("ct/lidc-lungmask/0.dcm", 5)]:
    p = SHARED / path
    if p.exists() and p.stat().st_size < 2_000_000:
        seed(f"real_{p.stem}_{selector}", selector, p.read_bytes())
dicom_dir = SHARED / "ct/totalsegmentator/example_ct_dicom"
if dicom_dir.is_dir():
    for i, f in enumerate(sorted(dicom_dir.iterdir())[:2]):
        seed(f"real_ts_{i}", 4, f.read_bytes())
print(f"{len(list(out.iterdir()))} seeds in {out}")
