#!/usr/bin/env python3
"""Writes README's lr-find table: `gradlab lr-find` against the lab's tuning.

    python3 docs/lr_find/compare.py [GRADLAB] [OUT]

GRADLAB: the binary (default target/release/gradlab); OUT: a scratch folder (default
runs/lr-find-check). Runs docs/lr_find/study.toml (the default study's problems, search spaces
and budget for sgd, momentum and adam, tuning seed only) unless OUT/results.db exists, then, per
problem and optimizer, `gradlab lr-find` on the config of the best trial (its own data, model,
epochs and optimizer) and on the bundled examples digits_mlp and mnist1d_mlp. Prints a
markdown table: the lab's best lr (by final validation accuracy), the lrs of the trials within
1 point of it, and the suggestion with its band over seeds.
"""
import json
import os
import sqlite3
import subprocess
import sys

GRADLAB = sys.argv[1] if len(sys.argv) > 1 else "target/release/gradlab"
OUT = sys.argv[2] if len(sys.argv) > 2 else "runs/lr-find-check"
HERE = os.path.dirname(os.path.abspath(__file__))


def fmt(x):
    return "-" if x is None else f"{x:.2g}"


def lr_find(config, out):
    subprocess.run(
        [GRADLAB, "lr-find", config, "--out", out, "--threads", "1"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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
    db_path = os.path.join(OUT, "results.db")
    if not os.path.exists(db_path):
        subprocess.run(
            [GRADLAB, "compare", os.path.join(HERE, "study.toml"), "--out", OUT,
             "--no-report", "--quiet", "--workers", "2"],
            check=True,
        )
    db = sqlite3.connect(db_path)
    rows = []
    runs = db.execute(
        "SELECT problem, optimizer, key, params, config FROM runs WHERE status = 'done' "
        "AND phase = 'tune' ORDER BY problem, optimizer, trial"
    ).fetchall()
    groups = {}
    for problem, opt, key, params, config in runs:
        acc = db.execute(
            "SELECT val_accuracy FROM epoch_metrics WHERE key = ? ORDER BY idx DESC LIMIT 1",
            (key,),
        ).fetchone()
        lr = json.loads(params)["lr"]
        groups.setdefault((problem, opt), []).append((acc[0] if acc else None, lr, config))
    print("| problem | optimizer | lab: best lr (val. acc.) | lab: trials within 1 point | "
          "lr-find: suggestion (seeds' band) | inside? | 2/λmax-type threshold at init |")
    print("|---|---|---:|---:|---:|---|---:|")
    for (problem, opt), trials in sorted(groups.items()):
        ok = [t for t in trials if t[0] is not None]
        best = max(ok, key=lambda t: t[0])
        good = [t[1] for t in ok if t[0] >= best[0] - 0.01]
        lo, hi = min(good), max(good)
        cfg = os.path.join(OUT, "configs", f"{problem}_{opt}.toml")
        os.makedirs(os.path.dirname(cfg), exist_ok=True)
        with open(cfg, "w") as f:
            f.write(best[2])
        lr, text, r = lr_find(cfg, os.path.join(OUT, "lr-find", f"{problem}_{opt}"))
        inside = "-" if lr is None else ("yes" if lo <= lr <= hi else
                                         f"no ({lr / best[1]:.2g}× the best)")
        print(f"| {problem} | {opt} | {fmt(best[1])} ({100 * best[0]:.1f}%) | "
              f"{fmt(lo)} .. {fmt(hi)} ({len(good)} of {len(ok)}) | {text} | {inside} | "
              f"{threshold(r)} |")
    for ex in ["digits_mlp", "mnist1d_mlp"]:
        cfg = os.path.join(HERE, "..", "..", "examples", "train", ex + ".toml")
        lr, text, r = lr_find(cfg, os.path.join(OUT, "lr-find", "example_" + ex))
        print(f"| `examples/train/{ex}.toml` | {r['optimizer']} | config: "
              f"{fmt(r['peak']['value'])} | - | {text} | - | {threshold(r)} |")


main()
