#!/usr/bin/env python3
"""seeds.py WORK - writes small valid seed inputs for each fuzz target under WORK/seeds/."""
import gzip, json, os, struct, sys

work = sys.argv[1]

def put(target, name, data):
    d = os.path.join(work, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def npy(descr, shape, data, major=1):
    sh = "(" + "".join(f"{s}, " for s in shape).rstrip(" ") + ")" if len(shape) != 1 else f"({shape[0]},)"
    h = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {sh}, }}".encode()
    pre = 10 if major == 1 else 12
    h += b" " * ((64 - (pre + len(h) + 1) % 64) % 64) + b"\n"
    ln = struct.pack("<H", len(h)) if major == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([major, 0]) + ln + h + data

put("fuzz_npy", "f4", npy("<f4", [2, 3], struct.pack("<6f", *range(6))))
put("fuzz_npy", "i8", npy("<i8", [3], struct.pack("<3q", 1, -2, 3), 2))
put("fuzz_npy", "u1", npy("|u1", [], b"\x07", 3))
put("fuzz_npy", "f8", npy("<f8", [1, 1, 2], struct.pack("<2d", 0.5, -1)))

def st(tensors, meta=True):
    hdr, data = {}, b""
    if meta:
        hdr["__metadata__"] = {"format": "pt"}
    for name, dt, shape, raw in tensors:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data

put("fuzz_safetensors", "two", st([("w", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)), ("b", "I64", [1], struct.pack("<q", 9))]))
put("fuzz_safetensors", "u8", st([("x\u00e9", "U8", [3], b"abc"), ("s", "F64", [], struct.pack("<d", 2.5))], False))
put("fuzz_json", "obj", b'{"a": [1, -2.5e3, true, false, null], "b\\u00e9\\ud83d\\ude00": {"c": "\\n\\t\\""}}')
put("fuzz_json", "num", b'[0, -0, 1e10, 123456789012345678901234567890]')

def idx(n, r, c):
    img = struct.pack(">IIII", 0x803, n, r, c) + bytes((i * 37) % 256 for i in range(n * r * c))
    lab = struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n))
    return img, lab

img, lab = idx(3, 4, 4)
put("fuzz_idx", "raw", struct.pack("<H", len(img)) + img + lab)
gi, gl = gzip.compress(img), gzip.compress(lab)
put("fuzz_idx", "gz", struct.pack("<H", len(gi)) + gi + gl)
put("fuzz_csv", "hdr", b"a,b,label\n1.5,2,0\n-3,4e2,2\r\n")
put("fuzz_csv", "plain", b"1,2,3,1\n4,5,6,0\n")
put("fuzz_text", "text", b"\x04hello world, the quick brown fox\n")
put("fuzz_augment", "all", b"\x02\x07\x07flip,crop=2,brightness=0.3,contrast=0.5")
put("fuzz_augment", "crop", b"\x00\x04\x03crop=4")
rec = lambda lab, k: bytes([lab]) + bytes((i * 13 + k) % 256 for i in range(3072))
put("fuzz_cifar", "five", bytes([64, 64, 128, 64, 64]) + rec(1, 0) + rec(2, 1) + rec(3, 2) + rec(9, 3) + rec(0, 4) + rec(5, 5))

# fuzz_dnn: every model the project and the conformance suite ship, valid and invalid
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
for sub in ("examples", "tests/errors", "tests/fixtures", "../shared/conformance"):
    for dirpath, _, files in os.walk(os.path.join(root, sub)):
        for f in sorted(files):
            if f.endswith(".dnn"):
                with open(os.path.join(dirpath, f), "rb") as fh:
                    put("fuzz_dnn", os.path.relpath(os.path.join(dirpath, f), root).replace("/", "_").lstrip("._"), fh.read())
