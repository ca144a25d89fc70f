"""Rewrites a model.safetensors as PyTorch saves a state dict with batch norm: the buffer
`num_batches_tracked` as an I64 scalar. Usage: make_pt_weights.py IN OUT."""
import json
import struct
import sys

raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
body = raw[8 + n:]
meta = header.pop("__metadata__", None)
tensors = []
for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
    a, b = t["data_offsets"]
    data = body[a:b]
    if name.endswith("num_batches_tracked"):
        value = struct.unpack("<f", data[:4])[0] if data else 0.0
        t = {"dtype": "I64", "shape": t["shape"]}
        data = struct.pack("<q", int(value)) * max(1, len(data) // 4)
    tensors.append((name, t, data))
out_header, offset, out_body = {}, 0, b""
for name, t, data in tensors:
    out_header[name] = {"dtype": t["dtype"], "shape": t["shape"], "data_offsets": [offset, offset + len(data)]}
    offset += len(data)
    out_body += data
if meta is not None:
    out_header["__metadata__"] = meta
h = json.dumps(out_header, separators=(",", ":")).encode()
h += b" " * ((8 - len(h) % 8) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(h)) + h + out_body)
