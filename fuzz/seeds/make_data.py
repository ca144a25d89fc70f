"""Writes the seed corpora of the data targets into fuzz/corpus/, cut small from the bundled
datasets (and, for formats no bundled file uses, written in the same layout). Run by make.sh."""
import ast
import gzip
import io
import os
import struct
import sys
import zipfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def out(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def npy_parse(b):
    major = b[6]
    if major == 1:
        hl, start = struct.unpack("<H", b[8:10])[0], 10
    else:
        hl, start = struct.unpack("<I", b[8:12])[0], 12
    header = ast.literal_eval(b[start:start + hl].decode("latin1"))
    return header, b[start + hl:]


def npy_bytes(descr, shape, body, version=1, fortran=False):
    shape_s = "(%s)" % ("".join("%d," % s for s in shape) if len(shape) == 1 else ", ".join(str(s) for s in shape))
    h = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape_s)
    pre = 10 if version == 1 else 12
    pad = (64 - (pre + len(h) + 1) % 64) % 64
    h = (h + " " * pad + "\n").encode("latin1")
    size = struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([version, 0]) + size + h + body


def itemsize(descr):
    return {"<f4": 4, "<i4": 4, "<f8": 8, "<i8": 8, "|u1": 1}[descr]


def cut(array_bytes, rows):
    header, body = npy_parse(array_bytes)
    shape = list(header["shape"])
    per_row = itemsize(header["descr"])
    for s in shape[1:]:
        per_row *= s
    shape[0] = rows
    return header["descr"], shape, body[: rows * per_row]


def main():
    arrays = {}
    for name in ("digits/digits.npz", "mnist1d/mnist1d.npz"):
        with zipfile.ZipFile(os.path.join(ROOT, "datasets", name)) as z:
            for m in z.namelist():
                arrays[(name, m)] = z.read(m)

    # npy: members of the bundled archives cut to a few rows, and every supported dtype and
    # header version.
    small = {}
    for (ds, m), b in arrays.items():
        descr, shape, body = cut(b, 3)
        key = ds.split("/")[0] + "-" + m
        small[(ds, m)] = (descr, shape, body)
        out("npy", key, npy_bytes(descr, shape, body))
    out("npy", "f4-2x3.npy", npy_bytes("<f4", [2, 3], struct.pack("<6f", 0, 1, 2.5, -3, 1e-3, 7)))
    out("npy", "i4-5.npy", npy_bytes("<i4", [5], struct.pack("<5i", 0, 1, 2, 9, 3)))
    out("npy", "u1-2x2x2.npy", npy_bytes("|u1", [2, 2, 2], bytes(range(8))))
    out("npy", "f8-scalar-v2.npy", npy_bytes("<f8", [], struct.pack("<d", 0.5), version=2))
    out("npy", "i8-0-v3.npy", npy_bytes("<i8", [0], b"", version=3))

    # npz: a split (x, y, x_test, y_test) of each bundled archive, stored and deflated.
    for ds in ("digits/digits.npz", "mnist1d/mnist1d.npz"):
        for method, tag in ((zipfile.ZIP_STORED, "stored"), (zipfile.ZIP_DEFLATED, "deflated")):
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", method) as z:
                for (d, m), (descr, shape, body) in small.items():
                    if d == ds:
                        z.writestr(m, npy_bytes(descr, shape, body))
            out("npz", "%s-%s.npz" % (ds.split("/")[0], tag), buf.getvalue())

    # idx: MNIST's four files cut to 3 examples (images 28x28 and labels), plain and gzipped.
    mnist = os.path.join(ROOT, "datasets", "mnist-10k")
    for f in sorted(os.listdir(mnist)):
        if not f.endswith(".gz"):
            continue
        raw = gzip.decompress(open(os.path.join(mnist, f), "rb").read())
        ndim = raw[3]
        dims = list(struct.unpack(">%dI" % ndim, raw[4:4 + 4 * ndim]))
        per = 1
        for s in dims[1:]:
            per *= s
        dims[0] = 3
        head = raw[:4] + struct.pack(">%dI" % ndim, *dims)
        body = raw[4 + 4 * ndim: 4 + 4 * ndim + 3 * per]
        name = f[: -len(".gz")]
        out("idx", name, head + body)
        out("idx_gz", f, gzip.compress(head + body, mtime=0))
    out("idx_gz", "plain-labels-idx1-ubyte", b"\x00\x00\x08\x01\x00\x00\x00\x02\x07\x02")

    # cifar: two records in the CIFAR-10 binary layout (label, then 3x32x32 pixels, CHW).
    recs = b""
    for label in (3, 9):
        recs += bytes([label]) + bytes((label * 7 + i) % 256 for i in range(3 * 32 * 32))
    out("cifar", "two-records.bin", recs)
    out("cifar", "one-record.bin", recs[: 3073])

    # csv: the first byte picks the columns (label column = low 4 bits; target columns = bits).
    csvs = {
        "header.csv": b"x0,x1,x2,label\n0.5,1,2,0\n1.5,-1,2e-3,1\n# a comment\n\n2,3,4,2\n",
        "plain.csv": b"1,2,3\n4,5,6\n7,8,9\n",
        "quoted.csv": b'"a","b","y"\n"1.0","2.0","3"\n"4.0","5.0","6"\n',
        "regression.csv": b"x,y0,y1\n0.1,1.0,2.0\n0.2,1.1,2.2\n0.3,nan,inf\n",
    }
    for i, (name, text) in enumerate(sorted(csvs.items())):
        out("csv", name, bytes([[0x03, 0x02, 0x06, 0x42][i]]) + text)


if __name__ == "__main__":
    sys.exit(main())
