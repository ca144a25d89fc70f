#!/usr/bin/env python3
"""PyTorch CPU training-step throughput on gradlab's three `gradlab-bench train` workloads.

A step = forward (train mode), cross-entropy, backward, Adam(fused=True) step, zero_grad
(set_to_none, PyTorch's default), on one fixed random batch (seeded):

    w0  MLP 40-100-100-10 (ReLU), batch 32
    w1  MLP 784-512-512-10 (ReLU), batch 128
    w2  CNN conv(1->32,3x3,pad 1)-relu-maxpool2-conv(32->64,3x3,pad 1)-relu-maxpool2-
        linear(3136->128)-relu-linear(128->10) on 1x28x28, batch 64; run both in the default
        (NCHW) and in channels_last memory format, the faster one is reported

Timing, as in `gradlab-bench train`: warm-up steps, then wall time over whole steps until
--seconds have passed (or exactly --steps steps), --rounds times; the best round is reported.

Usage:
    python bench/torch_train_bench.py --threads 2 [--seconds 2] [--rounds 3] [--json]

With --json the table goes to stderr and stdout carries exactly one JSON object:
    {"tool": "pytorch", "threads": .., "version": .., "workloads": [{"name", "steps_per_s", ...}]}
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch
from torch import nn


def build(name: str):
    if name == "w0":
        return (nn.Sequential(nn.Linear(40, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(),
                              nn.Linear(100, 10)), (32, 40))
    if name == "w1":
        return (nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                              nn.Linear(512, 10)), (128, 784))
    if name == "w2":
        return (nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10)), (64, 1, 28, 28))
    raise SystemExit(f"unknown workload {name!r} (expected w0, w1 or w2)")


def measure(name: str, args, channels_last: bool = False) -> dict:
    torch.manual_seed(0)
    model, shape = build(name)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(*shape, generator=g)
    y = torch.randint(0, 10, (shape[0],), generator=g)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    loss_fn = nn.CrossEntropyLoss()

    def step() -> torch.Tensor:
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        return loss

    first = step().item()
    for _ in range(max(args.warmup, 1) - 1):
        step()
    rounds, best = [], (0, float("inf"), 0.0)
    last = first
    for _ in range(max(args.rounds, 1)):
        t0 = time.perf_counter()
        steps = 0
        while True:
            loss = step()
            steps += 1
            if args.steps is not None:
                if steps >= args.steps:
                    break
            elif time.perf_counter() - t0 >= args.seconds:
                break
        secs = time.perf_counter() - t0
        last = loss.item()
        rate = steps / secs
        rounds.append(rate)
        if rate > best[2]:
            best = (steps, secs, rate)
    return {"name": name, "batch": shape[0], "steps": best[0], "seconds": best[1],
            "steps_per_s": best[2], "rounds": rounds, "first_loss": first, "last_loss": last,
            "channels_last": channels_last}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workloads", default="w0,w1,w2")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for name in [w.strip() for w in args.workloads.split(",") if w.strip()]:
        r = measure(name, args)
        if name == "w2":
            cl = measure(name, args, channels_last=True)
            r["nchw_steps_per_s"] = r["steps_per_s"]
            r["channels_last_steps_per_s"] = cl["steps_per_s"]
            if cl["steps_per_s"] > r["steps_per_s"]:
                cl["nchw_steps_per_s"] = r["steps_per_s"]
                cl["channels_last_steps_per_s"] = cl["steps_per_s"]
                r = cl
        results.append(r)
    report = {"tool": "pytorch", "version": torch.__version__, "threads": args.threads,
              "workloads": results}
    out = sys.stderr if args.json else sys.stdout
    print(f"PyTorch {torch.__version__}, {args.threads} thread(s), Adam(fused=True)", file=out)
    for r in results:
        extra = ""
        if "channels_last_steps_per_s" in r:
            extra = (f"  (NCHW {r['nchw_steps_per_s']:.1f}, "
                     f"channels_last {r['channels_last_steps_per_s']:.1f})")
        print(f"{r['name']:<4} {r['steps_per_s']:>12.1f} steps/s{extra}", file=out)
    if args.json:
        print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
