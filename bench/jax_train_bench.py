#!/usr/bin/env python3
"""JAX + optax CPU training-step throughput on gradlab's three `gradlab-bench train` workloads.

A step = one jit-compiled function: forward, softmax cross-entropy (mean), gradient with respect
to the parameters, optax.adam(1e-3) update and apply_updates, on one fixed random batch:

    w0  MLP 40-100-100-10 (ReLU), batch 32
    w1  MLP 784-512-512-10 (ReLU), batch 128
    w2  CNN conv(1->32,3x3,pad 1)-relu-maxpool2-conv(32->64,3x3,pad 1)-relu-maxpool2-
        linear(3136->128)-relu-linear(128->10) on 1x28x28 (NCHW), batch 64

Parameters and optimizer state are donated to the step, so XLA updates them in place. Timing, as
in `gradlab-bench train`: warm-up steps (compilation included there), then wall time over whole
steps until --seconds have passed (or exactly --steps steps), --rounds times, with the last
step's result awaited (block_until_ready) inside the timed span; the best round is reported.

The thread count is set before jax is imported by pinning the process to N CPUs
(os.sched_setaffinity, where the platform has it): XLA's CPU client sizes its thread pools from
the CPUs the process may use, and has no flag for an exact count.

Usage:
    python bench/jax_train_bench.py --threads 2 [--seconds 2] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def parse():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workloads", default="w0,w1,w2")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    return ap.parse_args()


args = parse()
if hasattr(os, "sched_setaffinity"):
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > args.threads:
        os.sched_setaffinity(0, cpus[:args.threads])

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402


def uniform(key, shape, fan_in):
    b = 1.0 / fan_in ** 0.5
    return jax.random.uniform(key, shape, jnp.float32, -b, b)


def dense(key, i, o):
    k1, k2 = jax.random.split(key)
    return {"w": uniform(k1, (i, o), i), "b": uniform(k2, (o,), i)}


def conv(key, i, o):
    k1, k2 = jax.random.split(key)
    return {"w": uniform(k1, (o, i, 3, 3), 9 * i), "b": uniform(k2, (o,), 9 * i)}


def mlp(widths):
    def init(key):
        keys = jax.random.split(key, len(widths) - 1)
        return [dense(k, i, o) for k, i, o in zip(keys, widths[:-1], widths[1:])]

    def apply(params, x):
        for layer in params[:-1]:
            x = jax.nn.relu(x @ layer["w"] + layer["b"])
        return x @ params[-1]["w"] + params[-1]["b"]

    return init, apply


def cnn():
    def init(key):
        k = jax.random.split(key, 4)
        return [conv(k[0], 1, 32), conv(k[1], 32, 64), dense(k[2], 3136, 128),
                dense(k[3], 128, 10)]

    def conv_relu_pool(p, x):
        y = jax.lax.conv_general_dilated(x, p["w"], (1, 1), ((1, 1), (1, 1)),
                                         dimension_numbers=("NCHW", "OIHW", "NCHW"))
        y = jax.nn.relu(y + p["b"][None, :, None, None])
        return jax.lax.reduce_window(y, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2),
                                     "VALID")

    def apply(params, x):
        x = conv_relu_pool(params[0], x)
        x = conv_relu_pool(params[1], x)
        x = x.reshape(x.shape[0], -1)
        x = jax.nn.relu(x @ params[2]["w"] + params[2]["b"])
        return x @ params[3]["w"] + params[3]["b"]

    return init, apply


WORKLOADS = {
    "w0": (mlp([40, 100, 100, 10]), (32, 40)),
    "w1": (mlp([784, 512, 512, 10]), (128, 784)),
    "w2": (cnn(), (64, 1, 28, 28)),
}


def measure(name: str) -> dict:
    if name not in WORKLOADS:
        raise SystemExit(f"unknown workload {name!r} (expected w0, w1 or w2)")
    (init, apply), shape = WORKLOADS[name]
    key = jax.random.PRNGKey(0)
    kp, kx, ky = jax.random.split(key, 3)
    params = init(kp)
    x = jax.random.normal(kx, shape, jnp.float32)
    y = jax.random.randint(ky, (shape[0],), 0, 10)
    opt = optax.adam(1e-3)
    state = opt.init(params)

    def loss_fn(p, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(apply(p, x), y).mean()

    def _step(p, s, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        updates, s = opt.update(g, s, p)
        return optax.apply_updates(p, updates), s, loss

    step = jax.jit(_step, donate_argnums=(0, 1))

    params, state, loss = step(params, state, x, y)
    first = float(loss)
    for _ in range(max(args.warmup, 1) - 1):
        params, state, loss = step(params, state, x, y)
    loss.block_until_ready()
    rounds, best = [], (0, float("inf"), 0.0)
    for _ in range(max(args.rounds, 1)):
        t0 = time.perf_counter()
        steps = 0
        while True:
            params, state, loss = step(params, state, x, y)
            steps += 1
            if args.steps is not None:
                if steps >= args.steps:
                    break
            elif time.perf_counter() - t0 >= args.seconds:
                break
        loss.block_until_ready()
        secs = time.perf_counter() - t0
        rate = steps / secs
        rounds.append(rate)
        if rate > best[2]:
            best = (steps, secs, rate)
    return {"name": name, "batch": shape[0], "steps": best[0], "seconds": best[1],
            "steps_per_s": best[2], "rounds": rounds, "first_loss": first,
            "last_loss": float(loss)}


def main() -> None:
    results = [measure(w.strip()) for w in args.workloads.split(",") if w.strip()]
    report = {"tool": "jax", "version": jax.__version__, "optax_version": optax.__version__,
              "threads": args.threads, "workloads": results}
    out = sys.stderr if args.json else sys.stdout
    print(f"JAX {jax.__version__} + optax {optax.__version__}, {args.threads} thread(s), "
          "jit-compiled step", file=out)
    for r in results:
        print(f"{r['name']:<4} {r['steps_per_s']:>12.1f} steps/s", file=out)
    if args.json:
        print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
