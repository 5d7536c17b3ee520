#!/usr/bin/env python3
"""Writes a seed corpus of the fuzz targets (docs/fuzzing.md) into the folder given (default fuzz/seeds).

  make_seeds.py [--synthetic] [--series] [FOLDER]

pulmo_fuzz_read (default): each seed is one selector byte (the format: 0 .nii, 1 .nii.gz, 2 .nrrd, 3 .mha, 4 .dcm,
5 DICOM folder) followed by the file's bytes: small valid files of every format, synthetic DICOM slices written
here, plus small real DICOM files of the shared data ($PULMO_DATA, else ../shared/data beside the checkout; left out
when it is absent or with --synthetic, as the CI run does: fuzz/ci_fuzz.sh).
pulmo_fuzz_series (--series): DICOM series of 1 to 4 synthetic slices, the files joined by "\nPULMO-NEXT-SLICE\n".
"""
import gzip, os, struct, sys, zlib, pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
args = [a for a in sys.argv[1:] if not a.startswith("--")]
SYNTHETIC = "--synthetic" in sys.argv[1:]
SERIES = "--series" in sys.argv[1:]
out = pathlib.Path(args[0] if args else ROOT / "fuzz" / ("seeds-series" if SERIES else "seeds"))
out.mkdir(parents=True, exist_ok=True)


def dicom_element(group, element, vr, value):
    if isinstance(value, str):
        value = value.encode()
    if len(value) % 2:
        value += b"\0" if vr in (b"UI", b"OB") else b" "
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
        return struct.pack("<HH2sHI", group, element, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


def us(v):
    return struct.pack("<H", v)


def ct_slice(z=0.0, instance=1, rows=8, columns=8, series="1.2.826.0.1.3680043.9.7777.5", slope="1"):
    """A small CT slice, explicit VR little endian, every element pulmo's series reader looks at."""
    sop = f"{series}.{instance}"
    meta = (dicom_element(0x0002, 0x0001, b"OB", b"\0\1") + dicom_element(0x0002, 0x0002, b"UI", "1.2.840.10008.5.1.4.1.1.2")
            + dicom_element(0x0002, 0x0003, b"UI", sop) + dicom_element(0x0002, 0x0010, b"UI", "1.2.840.10008.1.2.1")
            + dicom_element(0x0002, 0x0012, b"UI", "1.2.826.0.1.3680043.9.7777.99"))
    meta = dicom_element(0x0002, 0x0000, b"UL", struct.pack("<I", len(meta))) + meta
    pixels = b"".join(struct.pack("<H", (instance * 10 + x + y) & 0xFFF) for y in range(rows) for x in range(columns))
    ds = (dicom_element(0x0008, 0x0008, b"CS", "ORIGINAL\\PRIMARY\\AXIAL")
          + dicom_element(0x0008, 0x0016, b"UI", "1.2.840.10008.5.1.4.1.1.2") + dicom_element(0x0008, 0x0018, b"UI", sop)
          + dicom_element(0x0008, 0x0060, b"CS", "CT") + dicom_element(0x0018, 0x0050, b"DS", "2")
          + dicom_element(0x0020, 0x000D, b"UI", "1.2.826.0.1.3680043.9.7777") + dicom_element(0x0020, 0x000E, b"UI", series)
          + dicom_element(0x0020, 0x0013, b"IS", str(instance))
          + dicom_element(0x0020, 0x0032, b"DS", f"-5\\-5\\{z:g}") + dicom_element(0x0020, 0x0037, b"DS", "1\\0\\0\\0\\1\\0")
          + dicom_element(0x0028, 0x0002, b"US", us(1)) + dicom_element(0x0028, 0x0004, b"CS", "MONOCHROME2")
          + dicom_element(0x0028, 0x0010, b"US", us(rows)) + dicom_element(0x0028, 0x0011, b"US", us(columns))
          + dicom_element(0x0028, 0x0030, b"DS", "0.7\\0.7") + dicom_element(0x0028, 0x0100, b"US", us(16))
          + dicom_element(0x0028, 0x0101, b"US", us(12)) + dicom_element(0x0028, 0x0102, b"US", us(11))
          + dicom_element(0x0028, 0x0103, b"US", us(0))
          + dicom_element(0x0028, 0x1052, b"DS", "-1024") + dicom_element(0x0028, 0x1053, b"DS", slope)
          + dicom_element(0x7FE0, 0x0010, b"OW", pixels))
    return b"\0" * 128 + b"DICM" + meta + ds


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
    (out / name).write_bytes((b"" if selector is None else bytes([selector])) + payload)


SEP = b"\nPULMO-NEXT-SLICE\n"
if SERIES:
    seed("series_1", None, ct_slice())
    seed("series_3", None, SEP.join(ct_slice(z=2.0 * i, instance=i + 1) for i in range(3)))
    seed("series_4_gap", None, SEP.join(ct_slice(z=z, instance=i + 1) for i, z in enumerate([0, 2, 6, 8])))
    seed("series_3_slope0", None, SEP.join(ct_slice(z=2.0 * i, instance=i + 1, slope="0" if i == 1 else "1") for i in range(3)))
    seed("series_2_tiny", None, SEP.join(ct_slice(z=2.0 * i, instance=i + 1, rows=2, columns=2) for i in range(2)))
    print(f"{len(list(out.iterdir()))} series seeds in {out}")
    sys.exit(0)

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
seed("dcm_synthetic", 4, ct_slice())
seed("dcm_synthetic_folder", 5, ct_slice(z=4.0, instance=3))
if SYNTHETIC:
    print(f"{len(list(out.iterdir()))} seeds in {out} (synthetic only)")
    sys.exit(0)
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
