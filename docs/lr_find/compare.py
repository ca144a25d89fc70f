#!/usr/bin/env python3
"""Writes README's lr-find table: `gradlab lr-find` against the lab's tuning.

    python3 docs/lr_find/compare.py [GRADLAB] [OUT] [SEEDS]

GRADLAB: the binary (default target/release/gradlab); OUT: a scratch folder (default
runs/lr-find-check); SEEDS: seeds per learning rate (default 5).

1. The lab's side. docs/lr_find/study.toml (the default study's three MLP problems, budget and
   tuning metric, for sgd, momentum and adam) and docs/lr_find/examples.toml (the bundled
   examples digits_mlp and mnist1d_mlp as they are, adam) walk each optimizer's lr over a grid
   of four points a decade; each is run once per seed (`gradlab compare`, one store per seed
   under OUT, reused when complete). Per problem and optimizer, the best lr is the one with the
   highest mean final validation accuracy over the seeds, and "the range where the lab found
   its best setting" is the run of neighbouring grid lrs that the lab's own confidence rule
   (lab::analysis::verdicts::confidence, restated in `label` below) calls "within noise" of the
   best: not "clear" (every seed of one above every seed of the other, or Welch t >= 3) nor
   "likely" (t >= 1.5) worse. A run that stopped before its first epoch counts as accuracy 0.
2. `gradlab lr-find` (its defaults: 3 seeds, 100 steps, 1e-7 -> 10) on each problem's config.
   A suggestion is inside when it lies within the range widened by half a grid step (a factor
   10^(1/8)) at each end: the grid cannot say more finely where the range ends.
"""
import json
import math
import os
import re
import sqlite3
import statistics
import subprocess
import sys

GRADLAB = sys.argv[1] if len(sys.argv) > 1 else "target/release/gradlab"
OUT = sys.argv[2] if len(sys.argv) > 2 else "runs/lr-find-check"
SEEDS = int(sys.argv[3]) if len(sys.argv) > 3 else 5
HERE = os.path.dirname(os.path.abspath(__file__))
HALF_STEP = 10 ** (1 / 8)
# Each optimizer's search range in the default study (lab/studies/default.toml).
LAB_RANGE = {"sgd": (1e-3, 1.0), "momentum": (1e-4, 0.3), "adam": (1e-5, 3e-2)}


def fmt(x):
    return "-" if x is None else f"{x:.2g}"


def welch_t(a, b):
    se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    return (statistics.mean(a) - statistics.mean(b)) / se if se > 0 else None


def label(winner, runner_up):
    """lab::analysis::verdicts::confidence for a metric where higher is better."""
    if statistics.mean(winner) - statistics.mean(runner_up) <= 0:
        return "within noise"
    n, m = len(winner), len(runner_up)
    ln_choose = math.lgamma(n + m + 1) - math.lgamma(n + 1) - math.lgamma(m + 1)
    separated = all(w > r for w in winner for r in runner_up) and ln_choose >= math.log(20) - 1e-12
    t = welch_t(winner, runner_up)
    if separated or (t is not None and t >= 3.0):
        return "clear"
    if t is not None and t >= 1.5:
        return "likely"
    return "within noise"


def run_grid(study, tag):
    """Runs `study` once per seed; returns {(problem, optimizer): {lr: [accuracy per seed]}}."""
    text = open(os.path.join(HERE, study)).read()
    text = re.sub(r'config = "([^"]+)"',
                  lambda m: 'config = "%s"' % os.path.normpath(os.path.join(HERE, m.group(1))),
                  text)
    acc = {}
    for seed in range(SEEDS):
        out = os.path.join(OUT, f"{tag}-seed{seed}")
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, "study.toml")
        with open(path, "w") as f:
            f.write(re.sub(r"(?m)^seeds = \[.*\]$", f"seeds = [{seed}]", text))
        subprocess.run([GRADLAB, "compare", path, "--out", out, "--no-report", "--quiet",
                        "--workers", "2"], check=True)
        db = sqlite3.connect(os.path.join(out, "results.db"))
        for problem, opt, key, params in db.execute(
                "SELECT problem, optimizer, key, params FROM runs WHERE status = 'done' "
                "AND phase = 'tune'"):
            row = db.execute("SELECT val_accuracy FROM epoch_metrics WHERE key = ? "
                             "ORDER BY idx DESC LIMIT 1", (key,)).fetchone()
            a = row[0] if row and row[0] is not None else 0.0
            acc.setdefault((problem, opt), {}).setdefault(json.loads(params)["lr"], []).append(a)
        if seed == 0:
            # lr-find sweeps the config's seed and the next ones: seed 0's config.
            configs = {(p, o): c for p, o, c in db.execute(
                "SELECT problem, optimizer, config FROM runs WHERE phase = 'tune'")}
    return acc, configs


def lab_range(by_lr):
    lrs = sorted(by_lr)
    best = max(lrs, key=lambda lr: statistics.mean(by_lr[lr]))
    i = lo = hi = lrs.index(best)
    near = lambda j: label(by_lr[best], by_lr[lrs[j]]) == "within noise"
    while lo > 0 and near(lo - 1):
        lo -= 1
    while hi < len(lrs) - 1 and near(hi + 1):
        hi += 1
    return best, lrs[lo], lrs[hi], hi - lo + 1, hi == len(lrs) - 1


def lr_find(config, out):
    subprocess.run([GRADLAB, "lr-find", config, "--out", out, "--threads", "1"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(out, "lr_find.json")) as f:
        r = json.load(f)
    v = r["verdict"]
    band = f"{fmt(v.get('lo'))} .. {fmt(v.get('hi'))}" if v.get("lo") else "-"
    if v["kind"] == "clear":
        return v["lr"], f"**{fmt(v['lr'])}** ({band})", r
    whys = [x.split(": ", 1)[-1].split(":")[0] for x in v["reasons"]]
    why = "; ".join(f"{w} ({whys.count(w)} of {len(r['curves'])} seeds)"
                    for w in dict.fromkeys(whys))
    return None, f"no answer: {why}", r


def threshold(r):
    s = r.get("stability")
    return fmt(s["threshold"]) if s and s.get("threshold") else "-"


def main():
    rows = []
    for study, tag in [("study.toml", "default"), ("examples.toml", "examples")]:
        acc, configs = run_grid(study, tag)
        for (problem, opt), by_lr in sorted(acc.items()):
            if problem.startswith("example_"):
                name = problem[len("example_"):]
                cfg = os.path.join(HERE, "..", "..", "examples", "train", name + ".toml")
                shown, searched = f"`examples/train/{name}.toml`", "1e-05 .. 0.1"
            else:
                cfg = os.path.join(OUT, "configs", f"{problem}_{opt}.toml")
                os.makedirs(os.path.dirname(cfg), exist_ok=True)
                with open(cfg, "w") as f:
                    f.write(configs[(problem, opt)])
                shown = problem
                searched = " .. ".join(fmt(x) for x in LAB_RANGE[opt])
            best, lo, hi, n, top = lab_range(by_lr)
            lr, text, r = lr_find(cfg, os.path.join(OUT, "lr-find", f"{problem}_{opt}"))
            if lr is None:
                inside = "-"
            elif lo / HALF_STEP <= lr <= hi * HALF_STEP:
                inside = "yes"
            else:
                edge = lo if lr < lo else hi
                inside = f"no ({lr / edge:.2g}× the {'lower' if lr < lo else 'upper'} end)"
            mean = 100 * statistics.mean(by_lr[best])
            rows.append(
                f"| {shown} | {opt} | {searched} | {fmt(best)} ({mean:.1f}%) | "
                f"{fmt(lo)} .. {fmt(hi)}{' (grid top)' if top else ''} ({n} of {len(by_lr)}) | "
                f"{text} | {inside} | {threshold(r)} |")
    print(f"{SEEDS} seeds per grid lr; lr-find with its defaults.\n")
    print("| problem | optimizer | lab's search range | lab: best lr (mean val. acc.) | "
          "lab: lrs within noise of the best | lr-find: suggestion (seeds' band) | inside? | "
          "2/λmax-type threshold at init |")
    print("|---|---|---:|---:|---:|---:|---|---:|")
    print("\n".join(rows))


main()
