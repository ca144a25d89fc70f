#!/usr/bin/env bash
# Same-run comparison of gradlab's optimizers with PyTorch's on this machine:
#   bench/optimizers.sh [extra args for `gradlab-bench optimizers`, e.g. --json --sizes 10000000]
# Runs bench/torch_optim_bench.py with ../torch-ref/bin/python (or $TORCH_PYTHON) when both exist,
# with the same thread count and sizes, then `gradlab-bench optimizers --torch <its JSON>`;
# without torch it runs gradlab alone. THREADS (default 2), SIZES (default 10000000,100000000)
# and REPEATS (default: each tool's own) set both sides; TORCH_SCRIPT overrides the script path.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
threads="${THREADS:-2}"
sizes="${SIZES:-10000000,100000000}"
python="${TORCH_PYTHON:-$root/../torch-ref/bin/python}"
script="${TORCH_SCRIPT:-$root/bench/torch_optim_bench.py}"
repeats=()
if [[ -n "${REPEATS:-}" ]]; then repeats=(--repeats "$REPEATS"); fi

cargo build --release -q -p bench
bench="$root/target/release/gradlab-bench"

args=(optimizers --threads "$threads" --sizes "$sizes" "${repeats[@]}")
if [[ -x "$python" && -f "$script" ]]; then
    out="$(mktemp "${TMPDIR:-/tmp}/torch_optim_bench.XXXXXX.json")"
    trap 'rm -f "$out"' EXIT
    echo "running PyTorch reference ($python $script) ..." >&2
    OMP_NUM_THREADS="$threads" "$python" "$script" --threads "$threads" --sizes "$sizes" \
        "${repeats[@]}" --json >"$out"
    args+=(--torch "$out")
else
    echo "note: $python or $script not found; running gradlab alone" >&2
fi
"$bench" "${args[@]}" "$@"
