"""npy.py - the .npy files the test scripts write and read (plain python3, no packages).

Version 1.0 files, C order, little-endian <f4 / <i4 / <i8 data, the header padded so that
the data starts at a multiple of 64 bytes, as numpy writes them. Scripts import it with
tests/scripts on PYTHONPATH.
"""
import ast
import struct

_FMT = {"<f4": "f", "<i4": "i", "<i8": "q"}


def write(path, descr, shape, values):
    """Writes values (a flat sequence) as an array of the given dtype and shape."""
    hdr = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, "".join("%d, " % d for d in shape))
    hdr += " " * ((64 - (10 + len(hdr) + 1) % 64) % 64) + "\n"
    data = struct.pack("<%d%s" % (len(values), _FMT[descr]), *values)
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(hdr)) + hdr.encode("latin1") + data)


def read(path):
    """(descr, shape, values) of a file written as above (or by numpy, version 1.0)."""
    b = open(path, "rb").read()
    hl = struct.unpack("<H", b[8:10])[0]
    h = ast.literal_eval(b[10:10 + hl].decode("latin1"))
    n = 1
    for d in h["shape"]:
        n *= d
    fmt = "<%d%s" % (n, _FMT[h["descr"]])
    return h["descr"], list(h["shape"]), struct.unpack(fmt, b[10 + hl:10 + hl + struct.calcsize(fmt)])
