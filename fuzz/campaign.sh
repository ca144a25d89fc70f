#!/usr/bin/env bash
# The fuzz campaign: every target (or those named) for RUNS inputs (default 1,000,000), one
# after another, from the committed corpus plus what earlier campaigns grew (fuzz/corpus-run/,
# not committed), under smoke.sh's limits. Prints a line per target: inputs, seconds, result.
# Usage: bash fuzz/campaign.sh [RUNS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-1000000}
shift || true
export RUSTC_BOOTSTRAP=1
cargo fuzz build -a
targets=("$@")
((${#targets[@]})) || mapfile -t targets < <(cargo fuzz list)
mkdir -p fuzz/artifacts fuzz/logs
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus-run/$t"
    log="fuzz/logs/$t.log"
    start=$(date +%s)
    rc=0
    cargo fuzz run -a "$t" "fuzz/corpus-run/$t" "fuzz/corpus/$t" -- \
        -runs="$runs" -rss_limit_mb=1024 -malloc_limit_mb=1024 -timeout=10 \
        -artifact_prefix="fuzz/artifacts/$t-" -print_final_stats=1 >"$log" 2>&1 || rc=$?
    secs=$(($(date +%s) - start))
    execs=$(grep -oP '^stat::number_of_executed_units: *\K[0-9]+' "$log" || echo "?")
    if ((rc == 0)); then
        result="no crash"
    else
        result="CRASH: $(grep -m1 -oE 'SUMMARY: .*|panicked at .*' "$log"); $(grep -oE "Test unit written to \S+" "$log")"
    fi
    printf '%-16s %10s inputs %6s s  %s\n' "$t" "$execs" "$secs" "$result"
done
