#!/usr/bin/env bash
# Study throughput, gradlab vs PyTorch, same runs and same cores:
#   bash bench/compare.sh [STUDY.toml]
# Builds gradlab (release), runs `gradlab compare [STUDY] --out DIR --quiet --no-report` (the
# default study when no file is given) with WORKERS workers (default 2) and times it, then replays
# exactly the runs it stored (DIR/results.db, status done or failed) in eager PyTorch with
# bench/compare_torch.py (WORKERS processes, one thread each), and prints runs/hour of both, the
# ratio gradlab/PyTorch, the same ratio per CPU-second (less sensitive to other load on a shared
# machine), and how the final test accuracies of the two agree per problem.
# Environment: WORKERS (2), NO_DOCTOR=1 (gradlab without the doctor, as the replay), OUT (a fresh folder for the study; default a temporary one, removed
# unless KEEP=1), TORCH_PYTHON (default ../torch-ref/bin/python beside the checkout), GRADLAB_BIN
# (a gradlab binary to use instead of building one), VERIFY=N (afterwards, train N of the stored
# runs in both from the same initial weights and data order: the curves must agree, which checks
# that the replay is the same study).
# Measured 2026-11-23 (README has the latest: 2.87x on the 378-run default study with the doctor on, 2.93-3.25x without); earlier, 324 runs:
#   gradlab 9,338 and 10,100 runs/hour (124.9 s, 115.5 s), PyTorch 2.15 4,238 runs/hour (275.2 s
#   both times): 2.20x and 2.38x (2.55x per CPU-second); final test accuracy agrees (mean delta PyTorch - gradlab -0.1 to +0.6 points per
#   problem). gradlab used ~1 of its 2 cores: the per-epoch checkpoints (3 fsyncs each) block it;
#   the same study with [problems.train] checkpoint_every_epochs = 0 took 85.8 s (3.2x).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
workers="${WORKERS:-2}"
python="${TORCH_PYTHON:-}"
if [[ -z "$python" ]]; then
    # The venv beside the checkout (or beside the worktree folder holding it).
    for c in "$root/../torch-ref/bin/python" "$root/../../torch-ref/bin/python"; do
        if [[ -x "$c" ]]; then python="$c"; break; fi
    done
fi
if [[ -z "$python" ]] || ! "$python" -c 'import torch, numpy' 2>/dev/null; then
    echo "error: no Python with torch and numpy (set TORCH_PYTHON=/path/to/python)" >&2
    exit 2
fi

if [[ -n "${GRADLAB_BIN:-}" ]]; then
    gradlab="$GRADLAB_BIN"
else
    cargo build --release -q -p cli
    gradlab="$root/target/release/gradlab"
fi

if [[ -n "${OUT:-}" ]]; then
    out="$OUT"
    if [[ -e "$out/results.db" ]]; then
        echo "error: $out/results.db exists (a finished study would not run again): remove it or set another OUT" >&2
        exit 2
    fi
    mkdir -p "$out"
else
    out="$(mktemp -d "${TMPDIR:-/tmp}/compare_bench.XXXXXX")"
    [[ "${KEEP:-}" == 1 ]] || trap 'rm -rf "$out"' EXIT
fi

args=(compare)
[[ $# -gt 0 ]] && args+=("$1")
args+=(--out "$out" --workers "$workers" --quiet)
if "$gradlab" compare --help 2>/dev/null | grep -q -- '--no-report'; then
    args+=(--no-report)
fi
# NO_DOCTOR=1: without the doctor's instruments, i.e. the same work as the PyTorch replay,
# which has none (the default study runs them).
[[ "${NO_DOCTOR:-}" == 1 ]] && args+=(--no-doctor)

echo "load before gradlab: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "gradlab ${args[*]} ..." >&2
/usr/bin/time -f '%e %U %S' -o "$out/gradlab.time" "$gradlab" "${args[@]}" >&2
echo "load before PyTorch: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "PyTorch replay ..." >&2
/usr/bin/time -f '%e %U %S' -o "$out/torch.time" "$python" bench/compare_torch.py \
    "$out/results.db" --workers "$workers" --json "$out/torch_replay.json"

"$python" - "$out" "$workers" <<'EOF'
import datetime, json, os, sqlite3, sys
out, workers = sys.argv[1], sys.argv[2]
con = sqlite3.connect(os.path.join(out, "results.db"))
runs = con.execute("SELECT COUNT(*) FROM runs WHERE status IN ('done', 'failed')").fetchone()[0]
failed = con.execute("SELECT COUNT(*) FROM runs WHERE status = 'failed'").fetchone()[0]
def times(name):
    wall, user, sys_ = map(float, open(os.path.join(out, name)).read().split()[-3:])
    return wall, user + sys_
g_wall, g_cpu = times("gradlab.time")
rep = json.load(open(os.path.join(out, "torch_replay.json")))
t_wall, t_cpu = times("torch.time")
g_rph, t_rph = runs / g_wall * 3600, rep["runs"] / t_wall * 3600
g_cph, t_cph = runs / g_cpu * 3600, rep["runs"] / t_cpu * 3600
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print()
print(f"study throughput, {workers} workers x 1 thread, {runs} runs ({failed} failed in gradlab), "
      f"{date}; PyTorch {rep['version']}")
print(f"gradlab runs/hour: {g_rph:,.0f}  ({g_wall:.1f} s wall, {g_cpu:.1f} CPU-s)")
print(f"PyTorch runs/hour: {t_rph:,.0f}  ({t_wall:.1f} s wall, {t_cpu:.1f} CPU-s)")
print(f"ratio gradlab/PyTorch: {g_rph / t_rph:.2f}x (wall), {g_cph / t_cph:.2f}x (per CPU-second)")
print()
print("final test accuracy, PyTorch replay vs gradlab (mean |Δ| over runs; different initial "
      "weights and shuffles, so a few points per run is seed noise):")
for name, p in sorted(rep["per_problem"].items()):
    f = lambda v: "–" if v is None else f"{v:.4f}"
    print(f"  {name}: {p['compared']} runs, gradlab mean {f(p['mean_test_accuracy_gradlab'])}, "
          f"PyTorch mean {f(p['mean_test_accuracy_torch'])}, mean |Δ| "
          f"{f(p['mean_abs_diff_test_accuracy'])}, diverged {p['gradlab_diverged']}/"
          f"{p['torch_diverged']}")
EOF

if [[ -n "${VERIFY:-}" ]]; then
    echo
    echo "same initial weights and data order, gradlab train | PyTorch replay:"
    "$python" bench/compare_torch.py "$out/results.db" --verify "$VERIFY" --gradlab "$gradlab"
fi
