#!/usr/bin/env python3
"""PyTorch CPU optimizer-update throughput, for comparison with `gradlab-bench optimizers`.

For every size N: one float32 parameter of N elements with a gradient filled once with
randn * 1e-3 (never regenerated). After 3 warm-up steps, each optimizer.step() is timed on
its own and the median is reported, for

    adam_fused     torch.optim.Adam(fused=True)
    adam_foreach   torch.optim.Adam(foreach=True)
    sgd_momentum   torch.optim.SGD(momentum=0.9)          (foreach left at torch's default)
    triad          torch.add(b, c, alpha=s, out=a)         (memory-bandwidth reference)

GB/s counts the bytes the algorithm must move per element (reads + writes, float32):
    Adam 28 B  (read p, g, m, v; write p, m, v)
    SGD momentum 20 B  (read p, g, buf; write p, buf)
    triad 12 B  (read b, c; write a)

Usage:
    python bench/torch_optim_bench.py --threads 2 --sizes 10000000,100000000 --repeats 10 [--json]

With --json the table goes to stderr and stdout carries exactly one JSON object:
    {"threads": .., "torch_version": .., "results": [{"name", "elements", "seconds", "gbps"}, ...]}
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time

import torch

WARMUP = 3
BYTES_PER_ELEMENT = {"adam_fused": 28, "adam_foreach": 28, "sgd_momentum": 20, "triad": 12}


def time_calls(fn, repeats: int) -> float:
    for _ in range(WARMUP):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_optimizer(name: str, n: int, repeats: int, gen: torch.Generator) -> float:
    p = torch.nn.Parameter(torch.randn(n, dtype=torch.float32, generator=gen))
    p.grad = torch.randn(n, dtype=torch.float32, generator=gen).mul_(1e-3)
    if name == "adam_fused":
        opt = torch.optim.Adam([p], lr=1e-3, fused=True)
    elif name == "adam_foreach":
        opt = torch.optim.Adam([p], lr=1e-3, foreach=True)
    elif name == "sgd_momentum":
        opt = torch.optim.SGD([p], lr=1e-3, momentum=0.9)
    else:
        raise ValueError(name)
    try:
        return time_calls(opt.step, repeats)
    finally:
        del opt, p
        gc.collect()


def bench_triad(n: int, repeats: int, gen: torch.Generator) -> float:
    a = torch.empty(n, dtype=torch.float32)
    b = torch.randn(n, dtype=torch.float32, generator=gen)
    c = torch.randn(n, dtype=torch.float32, generator=gen)
    s = 0.5
    try:
        return time_calls(lambda: torch.add(b, c, alpha=s, out=a), repeats)
    finally:
        del a, b, c
        gc.collect()


def main() -> int:
    ap = argparse.ArgumentParser(description="PyTorch CPU optimizer throughput")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--sizes", default="10000000,100000000",
                    help="comma-separated element counts (default 10000000,100000000)")
    ap.add_argument("--repeats", type=int, default=10, help="timed steps per measurement (default 10)")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    gen = torch.Generator().manual_seed(0)

    table = sys.stderr if args.json else sys.stdout
    print(f"torch {torch.__version__}  threads={torch.get_num_threads()}  "
          f"cpu_capability={torch.backends.cpu.get_cpu_capability()}  repeats={args.repeats}",
          file=table)
    print(f"{'name':<14} {'elements':>12} {'median s/step':>14} {'GB/s':>8}", file=table)

    results = []
    with torch.no_grad():
        for n in sizes:
            for name in ("adam_fused", "adam_foreach", "sgd_momentum", "triad"):
                if name == "triad":
                    sec = bench_triad(n, args.repeats, gen)
                else:
                    sec = bench_optimizer(name, n, args.repeats, gen)
                gbps = BYTES_PER_ELEMENT[name] * n / sec / 1e9
                results.append({"name": name, "elements": n, "seconds": sec, "gbps": gbps})
                print(f"{name:<14} {n:>12} {sec:>14.6f} {gbps:>8.2f}", file=table, flush=True)

    if args.json:
        print(json.dumps({"threads": torch.get_num_threads(), "torch_version": torch.__version__,
                          "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
