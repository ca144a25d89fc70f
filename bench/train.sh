#!/usr/bin/env bash
# Same-run comparison of gradlab's training steps with PyTorch's and JAX's on this machine:
#   bash bench/train.sh [extra args for all three, e.g. --seconds 3 --rounds 5 --workloads w0,w1]
# Runs `gradlab-bench train --json`, bench/torch_train_bench.py and bench/jax_train_bench.py
# (each with ../torch-ref/bin/python or $TORCH_PYTHON, skipped when missing) with the same thread
# count (THREADS, default 2) and timing arguments, then prints steps/s and the ratios
# gradlab/PyTorch and gradlab/JAX. Set ORDER=interleave to run the three tools per workload
# rather than tool by tool (less sensitive to load drifting during the run).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
threads="${THREADS:-2}"
python="${TORCH_PYTHON:-}"
if [[ -z "$python" ]]; then
    # The venv beside the checkout (or beside the worktree folder holding it).
    for c in "$root/../torch-ref/bin/python" "$root/../../torch-ref/bin/python"; do
        if [[ -x "$c" ]]; then python="$c"; break; fi
    done
    python="${python:-$root/../torch-ref/bin/python}"
fi

cargo build --release -q -p bench
bench="$root/target/release/gradlab-bench"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/train_bench.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

workloads="w0,w1,w2"
args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --workloads) workloads="$2"; shift 2 ;;
        --workloads=*) workloads="${1#--workloads=}"; shift ;;
        *) args+=("$1"); shift ;;
    esac
done

run_all() { # $1 = workload list, $2 = file suffix
    echo "gradlab ($1) ..." >&2
    "$bench" train --json --threads "$threads" --workloads "$1" "${args[@]}" \
        >"$tmp/gradlab.$2.json"
    if [[ -x "$python" ]]; then
        if "$python" -c 'import torch' 2>/dev/null; then
            echo "PyTorch ($1) ..." >&2
            OMP_NUM_THREADS="$threads" "$python" bench/torch_train_bench.py --json \
                --threads "$threads" --workloads "$1" "${args[@]}" >"$tmp/torch.$2.json"
        else
            echo "note: torch not importable with $python; skipped" >&2
        fi
        if "$python" -c 'import jax, optax' 2>/dev/null; then
            echo "JAX ($1) ..." >&2
            "$python" bench/jax_train_bench.py --json --threads "$threads" --workloads "$1" \
                "${args[@]}" >"$tmp/jax.$2.json"
        else
            echo "note: jax/optax not importable with $python (pip install 'jax[cpu]' optax); skipped" >&2
        fi
    else
        echo "note: $python not found; running gradlab alone" >&2
    fi
}

if [[ "${ORDER:-}" == interleave ]]; then
    IFS=, read -ra ws <<<"$workloads"
    for w in "${ws[@]}"; do run_all "$w" "$w"; done
else
    run_all "$workloads" all
fi

report_python="$python"
[[ -x "$report_python" ]] || report_python=python3
"$report_python" - "$tmp" "$threads" <<'EOF'
import datetime, glob, json, os, sys
tmp, threads = sys.argv[1], sys.argv[2]
rates = {}
versions = {}
for path in sorted(glob.glob(os.path.join(tmp, "*.json"))):
    tool = os.path.basename(path).split(".")[0]
    with open(path) as f:
        rep = json.load(f)
    versions[tool] = rep.get("version", "")
    for w in rep["workloads"]:
        entry = {"rate": w["steps_per_s"]}
        if "channels_last_steps_per_s" in w:
            entry["note"] = "channels_last" if w["channels_last"] else "NCHW"
        rates.setdefault(w["name"], {})[tool] = entry
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print(f"training steps/s, {threads} thread(s), {date}"
      + (f"; PyTorch {versions['torch']}" if "torch" in versions else "")
      + (f"; JAX {versions['jax']}" if "jax" in versions else ""))
print()
print("| workload | gradlab | PyTorch | JAX | gradlab/PyTorch | gradlab/JAX |")
print("|---|---:|---:|---:|---:|---:|")
desc = {"w0": "W0 MLP 40-100-100-10, batch 32", "w1": "W1 MLP 784-512-512-10, batch 128",
        "w2": "W2 CNN (2 conv + 2 linear), batch 64"}
for name in sorted(rates):
    r = rates[name]
    g = r.get("gradlab", {}).get("rate")
    def cell(tool):
        e = r.get(tool)
        if not e:
            return "–"
        s = f"{e['rate']:,.1f}"
        return s + (f" ({e['note']})" if "note" in e else "")
    def ratio(tool):
        e = r.get(tool)
        return f"{g / e['rate']:.2f}×" if (e and g) else "–"
    print(f"| {desc.get(name, name)} | {g:,.1f} | {cell('torch')} | {cell('jax')} | "
          f"{ratio('torch')} | {ratio('jax')} |")
EOF
