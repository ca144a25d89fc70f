#!/bin/sh
# Regenerates cifar-gnu.tar.gz and cifar-posix.tar.gz, small archives laid out like
# cifar-10-binary.tar.gz but written by GNU tar in its two usual formats, for
# download::tests::archives_written_by_gnu_tar. Needs GNU tar and python3.
set -e
cd "$(dirname "$0")"
tmp=$(mktemp -d)
mkdir "$tmp/cifar-10-batches-bin"
python3 - "$tmp/cifar-10-batches-bin" <<'PY'
import sys, os
d = sys.argv[1]
def record(label, seed):
    return bytes([label]) + bytes((seed + i) % 256 for i in range(3072))
open(os.path.join(d, "data_batch_1.bin"), "wb").write(record(2, 0) + record(3, 1))
open(os.path.join(d, "test_batch.bin"), "wb").write(record(7, 9))
open(os.path.join(d, "batches.meta.txt"), "w").write("airplane\nautomobile\n")
PY
for fmt in gnu posix; do
  tar --format=$fmt --owner=0 --group=0 --sort=name --mtime=2009-06-01 \
      -C "$tmp" -czf "cifar-$fmt.tar.gz" cifar-10-batches-bin
done
rm -r "$tmp"
