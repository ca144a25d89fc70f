#!/usr/bin/env bash
# A short fuzz run of every target (or of those named), each for SECONDS (default 15) from its
# committed corpus, under the limits that count as a crash: an allocation or resident memory
# over 1 GB, an input running over 10 s. Fails on the first crash, naming the reproducer.
# New inputs go to a temporary folder: the committed corpus is not changed.
# Usage: bash fuzz/smoke.sh [SECONDS] [TARGET...]
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); nightly features come from
# RUSTC_BOOTSTRAP=1 on a stable toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
shift || true
export RUSTC_BOOTSTRAP=1
targets=("$@")
# Debug assertions on (-a): an arithmetic overflow on a size is a crash too.
if ((${#targets[@]})); then
    for t in "${targets[@]}"; do cargo fuzz build -a "$t"; done
else
    cargo fuzz build -a
    mapfile -t targets < <(cargo fuzz list)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p fuzz/artifacts
for t in "${targets[@]}"; do
    mkdir -p "$work/$t"
    echo "== fuzz $t (${secs} s)"
    if ! cargo fuzz run -a "$t" "$work/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=1024 -malloc_limit_mb=1024 -timeout=10 \
        -artifact_prefix="fuzz/artifacts/$t-" -print_final_stats=1 >"$work/$t.log" 2>&1; then
        tail -n 40 "$work/$t.log"
        echo "fuzz target $t crashed; reproducer: $(ls -t fuzz/artifacts/"$t"-* 2>/dev/null | head -n 1)" >&2
        exit 1
    fi
    grep -E '^stat::number_of_executed_units|^Done' "$work/$t.log" | tr '\n' ' '
    echo
done
echo "fuzz smoke: ${#targets[@]} targets, no crash"
