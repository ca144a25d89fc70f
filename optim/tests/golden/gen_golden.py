#!/usr/bin/env python3
"""Generate golden reference trajectories for gradlab's optimizers with real PyTorch.

Usage (from the repository root, with a Python that has torch + numpy):

    python optim/tests/golden/gen_golden.py            # writes optim/tests/golden/golden.json
    python optim/tests/golden/gen_golden.py --out X    # somewhere else

Everything runs in float64 on the CPU with torch's default (single-tensor, foreach=False)
optimizer implementations. Data is deterministic: every case draws its problem from a numpy
Generator seeded with SEED + crc32(case name), so adding or reordering cases leaves the
others unchanged.

The problem (see README.md): params "w" [3, 4] and "b" [4], flat row-major. At step t with
current flat value p the gradient is

    g = a * (p - c) + 0.3 * cos(3 * p) + noise[t]

evaluated with torch float64 ops in exactly that association order:
    ((a * (p - c)) + (0.3 * cos(3.0 * p))) + noise[t]

Per step: set grads -> optional clipping -> record lr (and momentum for one_cycle) of every
group -> optimizer.step() -> optional scheduler.step() -> record every param.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import zlib

import numpy as np
import torch

SEED = 20240611
PARAM_SHAPES = [("w", [3, 4]), ("b", [4])]

OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "adagrad": torch.optim.Adagrad,
    "rmsprop": torch.optim.RMSprop,
    "adadelta": torch.optim.Adadelta,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "adamax": torch.optim.Adamax,
    "nadam": torch.optim.NAdam,
    "radam": torch.optim.RAdam,
}

# Constructor kwargs that pick an implementation rather than an algorithm; never written.
IMPL_KWARGS = {"params", "self", "foreach", "fused", "capturable", "differentiable"}


def torch_defaults(name: str) -> dict:
    """The algorithm hyperparameters of torch.optim.<X> with torch's own defaults."""
    sig = inspect.signature(OPTIMIZERS[name].__init__)
    out = {}
    for k, prm in sig.parameters.items():
        if k in IMPL_KWARGS or prm.default is inspect.Parameter.empty:
            continue
        v = prm.default
        if isinstance(v, tuple):
            v = list(v)
        out[k] = v
    return out


def full_hparams(name: str, overrides: dict) -> dict:
    hp = torch_defaults(name)
    for k, v in overrides.items():
        if k not in hp:
            raise KeyError(f"{name} has no hyperparameter {k!r}")
        hp[k] = list(v) if isinstance(v, tuple) else v
    # keep ints as floats where torch's default is a float (JSON readers then see 0.0, not 0)
    for k, v in hp.items():
        if isinstance(v, int) and not isinstance(v, bool):
            hp[k] = float(v)
    return hp


# ----------------------------------------------------------------------------------------
# Case table
# ----------------------------------------------------------------------------------------

CASES: list[dict] = []


def case(name, opt, overrides=None, *, steps=30, groups=None, clip=None, schedule=None,
         metrics=None, no_grad_steps=None, defaults=False, problem_from=None):
    if any(c["name"] == name for c in CASES):
        raise ValueError(f"duplicate case {name}")
    CASES.append(dict(
        name=name,
        optimizer={"name": opt, **full_hparams(opt, overrides or {})},
        torch_defaults=defaults,
        groups=groups,
        clip=clip,
        schedule=schedule,
        metrics=metrics,
        steps=steps,
        no_grad_steps=no_grad_steps,
        problem_from=problem_from,
    ))


def define_cases():
    # --- torch defaults, one per optimizer (the "default" case the brief asks for where the
    #     brief's "default" equals torch's defaults) ---
    for opt in OPTIMIZERS:
        case(f"{opt}_torch_defaults", opt, {}, steps=30, defaults=True)

    # --- SGD ---
    case("sgd_plain", "sgd", {"lr": 0.05})
    case("sgd_momentum", "sgd", {"lr": 0.05, "momentum": 0.9})
    case("sgd_momentum_dampening", "sgd", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1})
    case("sgd_nesterov", "sgd", {"lr": 0.05, "momentum": 0.8, "nesterov": True})
    case("sgd_weight_decay", "sgd", {"lr": 0.05, "weight_decay": 0.1})
    case("sgd_maximize", "sgd", {"lr": 0.01, "momentum": 0.3, "weight_decay": 0.01, "maximize": True})
    case("sgd_momentum_wd_nesterov", "sgd",
         {"lr": 0.03, "momentum": 0.9, "weight_decay": 0.05, "nesterov": True})

    # --- Adagrad ---
    case("adagrad_decay_wd_init_acc", "adagrad",
         {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1, "initial_accumulator_value": 0.1, "eps": 1e-8})
    case("adagrad_maximize", "adagrad", {"lr": 0.05, "maximize": True})

    # --- RMSprop ---
    case("rmsprop_alpha_eps_wd", "rmsprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.01})
    case("rmsprop_momentum", "rmsprop", {"lr": 0.005, "momentum": 0.5})
    case("rmsprop_centered", "rmsprop", {"lr": 0.005, "alpha": 0.95, "centered": True})
    case("rmsprop_centered_momentum", "rmsprop",
         {"lr": 0.003, "alpha": 0.9, "momentum": 0.7, "centered": True, "weight_decay": 0.02})

    # --- Adadelta ---
    case("adadelta_rho_eps_wd", "adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-5, "weight_decay": 0.1})

    # --- Adam ---
    case("adam_betas_eps_wd", "adam", {"lr": 0.02, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.01})
    case("adam_amsgrad", "adam", {"lr": 0.01, "betas": [0.85, 0.95], "eps": 1e-7, "amsgrad": True})
    case("adam_amsgrad_wd", "adam",
         {"lr": 0.01, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.01, "amsgrad": True})
    case("adam_maximize", "adam", {"lr": 0.01, "betas": [0.9, 0.99], "weight_decay": 0.01, "maximize": True})
    case("adam_decoupled_wd", "adam",
         {"lr": 0.01, "betas": [0.9, 0.99], "weight_decay": 0.1, "decoupled_weight_decay": True})

    # --- AdamW ---
    case("adamw_wd_amsgrad", "adamw",
         {"lr": 0.01, "betas": [0.9, 0.98], "eps": 1e-7, "weight_decay": 0.1, "amsgrad": True})
    case("adamw_no_wd", "adamw", {"lr": 0.01, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.0})
    # same problem data as adamw_no_wd (problem_from): trajectories must be identical
    case("adam_twin_of_adamw_no_wd", "adam", {"lr": 0.01, "betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.0},
         problem_from="adamw_no_wd")

    # --- Adamax ---
    case("adamax_wd_betas", "adamax", {"lr": 0.01, "betas": [0.8, 0.9], "weight_decay": 0.05})

    # --- NAdam ---
    case("nadam_momentum_decay_wd", "nadam",
         {"lr": 0.01, "betas": [0.9, 0.99], "momentum_decay": 0.01, "weight_decay": 0.01})
    case("nadam_decoupled_wd", "nadam",
         {"lr": 0.01, "betas": [0.85, 0.995], "eps": 1e-6, "weight_decay": 0.1, "decoupled_weight_decay": True})

    # --- RAdam (>= 30 steps so the rectified branch runs from step 6 on) ---
    case("radam_wd", "radam", {"lr": 0.01, "betas": [0.9, 0.99], "weight_decay": 0.1}, steps=35)
    case("radam_decoupled_wd", "radam",
         {"lr": 0.01, "betas": [0.85, 0.995], "eps": 1e-6, "weight_decay": 0.1, "decoupled_weight_decay": True},
         steps=35)

    # --- missing grads (p.grad = None at some steps: the param is skipped, its state untouched) ---
    case("adam_no_grad_steps", "adam", {"lr": 0.02, "betas": [0.85, 0.98], "weight_decay": 0.01},
         no_grad_steps={"b": [3, 4], "w": [10]})
    case("sgd_momentum_no_grad_steps", "sgd", {"lr": 0.05, "momentum": 0.9, "dampening": 0.1},
         no_grad_steps={"b": [3, 4], "w": [10]})

    # --- gradient clipping ---
    case("adam_clip_norm", "adam", {"lr": 0.02, "betas": [0.9, 0.99]}, clip={"max_norm": 0.5})
    case("sgd_momentum_clip_value", "sgd", {"lr": 0.05, "momentum": 0.9}, clip={"value": 0.2})

    # --- param groups ---
    case("sgd_momentum_groups", "sgd", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.05},
         groups=[{"params": ["b"], "weight_decay": 0.0, "lr": 0.025}])
    case("adamw_groups", "adamw", {"lr": 0.01, "betas": [0.9, 0.99], "weight_decay": 0.1},
         groups=[{"params": ["b"], "weight_decay": 0.0, "lr": 0.005}])
    case("sgd_momentum_groups_cosine", "sgd", {"lr": 0.1, "momentum": 0.9},
         groups=[{"params": ["b"], "lr": 0.05, "momentum": 0.5}],
         schedule={"name": "cosine", "t_max": 25, "eta_min": 0.001}, steps=30)

    # --- LR schedules ---
    sgd_m = {"lr": 0.1, "momentum": 0.9}
    adam_s = {"lr": 0.05, "betas": [0.9, 0.99]}
    case("sched_step", "sgd", sgd_m, schedule={"name": "step", "step_size": 7, "gamma": 0.5}, steps=35)
    case("sched_multistep", "sgd", sgd_m,
         schedule={"name": "multistep", "milestones": [6, 15, 28], "gamma": 0.3}, steps=35)
    case("sched_exponential", "adam", adam_s, schedule={"name": "exponential", "gamma": 0.93}, steps=35)
    # t_max < steps: exercises the (last_epoch - 1 - T_max) % (2 T_max) == 0 branch (lr rises again)
    case("sched_cosine", "sgd", sgd_m, schedule={"name": "cosine", "t_max": 15, "eta_min": 0.001}, steps=40)
    case("sched_cosine_warm_restarts", "sgd", sgd_m,
         schedule={"name": "cosine_warm_restarts", "t_0": 5, "t_mult": 2, "eta_min": 0.001}, steps=40)
    case("sched_linear", "adam", adam_s,
         schedule={"name": "linear", "start_factor": 0.25, "end_factor": 1.0, "total_iters": 10}, steps=30)
    case("sched_constant", "sgd", sgd_m,
         schedule={"name": "constant", "factor": 0.5, "total_iters": 8}, steps=30)
    case("sched_polynomial", "sgd", sgd_m,
         schedule={"name": "polynomial", "total_iters": 25, "power": 2.0}, steps=32)
    case("sched_one_cycle_cos_sgd", "sgd", {"lr": 0.1, "momentum": 0.9},
         schedule={"name": "one_cycle", "max_lr": 0.2, "total_steps": 40, "pct_start": 0.3,
                   "anneal_strategy": "cos", "div_factor": 10.0, "final_div_factor": 100.0,
                   "three_phase": False, "cycle_momentum": True,
                   "base_momentum": 0.85, "max_momentum": 0.95}, steps=40)
    case("sched_one_cycle_linear_adam", "adam", {"lr": 0.01, "betas": [0.9, 0.99]},
         schedule={"name": "one_cycle", "max_lr": 0.05, "total_steps": 35, "pct_start": 0.25,
                   "anneal_strategy": "linear", "div_factor": 25.0, "final_div_factor": 1000.0,
                   "three_phase": False, "cycle_momentum": True,
                   "base_momentum": 0.8, "max_momentum": 0.9}, steps=35)
    # total_steps 37 gives fractional phase ends (0.3*37-1 = 10.1, 2*0.3*37-2 = 20.2)
    case("sched_one_cycle_three_phase_sgd", "sgd", {"lr": 0.1, "momentum": 0.9},
         schedule={"name": "one_cycle", "max_lr": 0.15, "total_steps": 37, "pct_start": 0.3,
                   "anneal_strategy": "cos", "div_factor": 20.0, "final_div_factor": 10000.0,
                   "three_phase": True, "cycle_momentum": True,
                   "base_momentum": 0.85, "max_momentum": 0.95}, steps=37)
    case("sched_one_cycle_no_momentum_adam", "adam", {"lr": 0.01, "betas": [0.9, 0.99]},
         schedule={"name": "one_cycle", "max_lr": 0.03, "total_steps": 30, "pct_start": 0.4,
                   "anneal_strategy": "cos", "div_factor": 25.0, "final_div_factor": 10000.0,
                   "three_phase": False, "cycle_momentum": False,
                   "base_momentum": 0.85, "max_momentum": 0.95}, steps=30)
    case("sched_sequential", "sgd", sgd_m,
         schedule={"name": "sequential",
                   "schedulers": [
                       {"name": "linear", "start_factor": 0.1, "end_factor": 1.0, "total_iters": 5},
                       {"name": "cosine", "t_max": 30, "eta_min": 0.0005},
                   ],
                   "milestones": [5]}, steps=40)

    # ReduceLROnPlateau: min/rel, plateaus so the lr drops several times, then hits min_lr
    m1 = [1.0, 0.8, 0.7, 0.65, 0.649, 0.647, 0.6449,  # tiny gains < 1% rel -> bad epochs
          0.62, 0.61, 0.6095, 0.6094, 0.6093,
          0.55, 0.549, 0.548, 0.5479, 0.56,
          0.5, 0.499, 0.4989, 0.4988, 0.4987, 0.4986, 0.4985,
          0.45, 0.449, 0.4489, 0.4488, 0.4487, 0.4486,
          0.4485, 0.4484, 0.4483, 0.4482, 0.4481, 0.448]
    case("sched_plateau_min_rel", "sgd", sgd_m,
         schedule={"name": "reduce_on_plateau", "mode": "min", "factor": 0.5, "patience": 2,
                   "threshold": 0.01, "threshold_mode": "rel", "cooldown": 0, "min_lr": 0.01,
                   "eps": 1e-8},
         metrics=m1, steps=len(m1))
    # max/abs with cooldown 2
    m2 = [0.1, 0.3, 0.45, 0.47, 0.48, 0.49, 0.6, 0.62, 0.63, 0.64, 0.65,
          0.7, 0.71, 0.74, 0.76, 0.8, 0.8, 0.81, 0.86, 0.86, 0.87, 0.88,
          0.9, 0.91, 0.92, 0.97, 0.96, 0.95, 0.99, 0.99, 1.0, 1.0, 1.0]
    case("sched_plateau_max_abs_cooldown", "adam", adam_s,
         schedule={"name": "reduce_on_plateau", "mode": "max", "factor": 0.3, "patience": 1,
                   "threshold": 0.05, "threshold_mode": "abs", "cooldown": 2, "min_lr": 0.0,
                   "eps": 1e-8},
         metrics=m2, steps=len(m2))


# ----------------------------------------------------------------------------------------
# Running a case
# ----------------------------------------------------------------------------------------

def make_problem(name: str, steps: int):
    rng = np.random.default_rng(SEED + zlib.crc32(name.encode()))
    params = []
    for pname, shape in PARAM_SHAPES:
        n = int(np.prod(shape))
        a = rng.uniform(0.5, 3.0, n)
        c = rng.uniform(-1.0, 1.0, n)
        init = rng.uniform(-1.5, 1.5, n)
        params.append({"name": pname, "shape": shape, "a": a.tolist(), "c": c.tolist(),
                       "init": init.tolist()})
    noise = {}
    for p in params:
        n = len(p["a"])
        noise[p["name"]] = rng.normal(0.0, 0.1, (steps, n)).tolist()
    return params, noise


SCHED_KEYS = {"t_max": "T_max", "t_0": "T_0", "t_mult": "T_mult"}


def build_scheduler(opt, spec):
    S = torch.optim.lr_scheduler
    name = spec["name"]
    kw = {SCHED_KEYS.get(k, k): v for k, v in spec.items() if k != "name"}
    if name == "step":
        return S.StepLR(opt, **kw)
    if name == "multistep":
        return S.MultiStepLR(opt, **kw)
    if name == "exponential":
        return S.ExponentialLR(opt, **kw)
    if name == "cosine":
        return S.CosineAnnealingLR(opt, **kw)
    if name == "cosine_warm_restarts":
        return S.CosineAnnealingWarmRestarts(opt, **kw)
    if name == "linear":
        return S.LinearLR(opt, **kw)
    if name == "constant":
        return S.ConstantLR(opt, **kw)
    if name == "polynomial":
        return S.PolynomialLR(opt, **kw)
    if name == "one_cycle":
        return S.OneCycleLR(opt, **kw)
    if name == "sequential":
        subs = [build_scheduler(opt, s) for s in spec["schedulers"]]
        return S.SequentialLR(opt, schedulers=subs, milestones=spec["milestones"])
    if name == "reduce_on_plateau":
        return S.ReduceLROnPlateau(opt, **kw)
    raise ValueError(name)


def group_momentum(g):
    if "betas" in g:
        return float(g["betas"][0])
    return float(g["momentum"])


def run_case(spec: dict) -> dict:
    steps = spec["steps"]
    params_data, noise = make_problem(spec["problem_from"] or spec["name"], steps)
    f64 = torch.float64

    tensors = {}
    consts = {}
    for pd in params_data:
        t = torch.nn.Parameter(torch.tensor(pd["init"], dtype=f64).reshape(pd["shape"]))
        tensors[pd["name"]] = t
        consts[pd["name"]] = (
            torch.tensor(pd["a"], dtype=f64).reshape(pd["shape"]),
            torch.tensor(pd["c"], dtype=f64).reshape(pd["shape"]),
            torch.tensor(noise[pd["name"]], dtype=f64).reshape([steps] + pd["shape"]),
        )
    order = [pd["name"] for pd in params_data]

    hp = dict(spec["optimizer"])
    opt_name = hp.pop("name")
    cls = OPTIMIZERS[opt_name]
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in hp.items()}

    if spec["groups"]:
        listed = [n for g in spec["groups"] for n in g["params"]]
        param_groups = []
        default_names = [n for n in order if n not in listed]
        if default_names:
            param_groups.append({"params": [tensors[n] for n in default_names]})
        for g in spec["groups"]:
            pg = {k: (tuple(v) if isinstance(v, list) else v) for k, v in g.items() if k != "params"}
            pg["params"] = [tensors[n] for n in g["params"]]
            param_groups.append(pg)
        opt = cls(param_groups, foreach=False, **kwargs)
    else:
        opt = cls([tensors[n] for n in order], foreach=False, **kwargs)

    sched = build_scheduler(opt, spec["schedule"]) if spec["schedule"] else None
    is_plateau = bool(spec["schedule"]) and spec["schedule"]["name"] == "reduce_on_plateau"
    record_mom = bool(spec["schedule"]) and spec["schedule"]["name"] == "one_cycle"

    no_grad = spec["no_grad_steps"] or {}
    lrs, moms = [], []
    traj = {n: [] for n in order}
    all_params = [tensors[n] for n in order]
    for t in range(steps):
        # 1. gradients from the explicit formula
        for n in order:
            p = tensors[n]
            if t in no_grad.get(n, []):
                p.grad = None
                continue
            a, c, nz = consts[n]
            with torch.no_grad():
                pv = p.detach()
                g = a * (pv - c) + 0.3 * torch.cos(3.0 * pv) + nz[t]
            p.grad = g
        # 2. clipping
        if spec["clip"]:
            if "max_norm" in spec["clip"]:
                torch.nn.utils.clip_grad_norm_(all_params, spec["clip"]["max_norm"], norm_type=2.0)
            else:
                torch.nn.utils.clip_grad_value_(all_params, spec["clip"]["value"])
        # 3. record lr (and momentum) used by this step
        lrs.append([float(g["lr"]) for g in opt.param_groups])
        if record_mom:
            moms.append([group_momentum(g) for g in opt.param_groups])
        # 4. step
        opt.step()
        # 5. schedule
        if sched is not None:
            if is_plateau:
                sched.step(spec["metrics"][t])
            else:
                sched.step()
        # 6. record
        for n in order:
            traj[n].append(tensors[n].detach().reshape(-1).tolist())

    out = {
        "name": spec["name"],
        "problem_from": spec["problem_from"],
        "optimizer": spec["optimizer"],
        "torch_defaults": spec["torch_defaults"],
        "groups": spec["groups"],
        "clip": spec["clip"],
        "schedule": spec["schedule"],
        "metrics": spec["metrics"],
        "steps": steps,
        "params": params_data,
        "noise": noise,
        "no_grad_steps": spec["no_grad_steps"],
        "lrs": lrs,
        "momentums": moms if record_mom else None,
        "trajectory": traj,
    }
    for n in order:
        for row in traj[n]:
            if not all(math.isfinite(x) for x in row):
                raise RuntimeError(f"{spec['name']}: non-finite trajectory")
    return out


def dumps_compact(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(here, "golden.json"))
    args = ap.parse_args()

    torch.set_default_dtype(torch.float64)
    torch.manual_seed(0)  # nothing random is drawn from torch; set for good measure
    define_cases()
    cases = [run_case(c) for c in CASES]
    by_name = {c["name"]: c for c in cases}
    for c in cases:
        if c["problem_from"]:
            twin = by_name[c["problem_from"]]
            if c["trajectory"] != twin["trajectory"]:
                raise RuntimeError(f"{c['name']} differs from its twin {twin['name']}")

    # One case per line: small diffs when a case changes, still valid JSON.
    lines = ["{",
             f' "torch_version":{json.dumps(torch.__version__)},',
             ' "generator":"optim/tests/golden/gen_golden.py",',
             f' "cpu_capability":{json.dumps(torch.backends.cpu.get_cpu_capability())},',
             ' "cases":[']
    for i, c in enumerate(cases):
        lines.append("  " + dumps_compact(c) + ("," if i + 1 < len(cases) else ""))
    lines.append(" ]")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    json.loads(text)  # sanity
    with open(args.out, "w") as f:
        f.write(text)
    print(f"wrote {len(cases)} cases, {len(text)} bytes to {args.out} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
