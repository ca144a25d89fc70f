#!/usr/bin/env python3
"""Generates the exact-Hessian references of `train/tests/hvp.rs` (see README.md beside it).

For every case it writes, beside this script:
  {case}.toml               a gradlab run config: the model, the data whose first batch is the
                            reference batch (shuffle = false), the loss, one step
  {case}_init.safetensors   the weights (f32, PyTorch names), loaded by the config's [model] init
  {case}.json               the batch, the directions v, H v, and the spectrum of the full Hessian

Everything is computed in float64 from the float32 weights and batch: the loss is the mean loss
of the batch in training mode (BatchNorm with batch statistics, no dropout), H its Hessian in the
parameters (all of them, in state_dict order), computed row by row with double backward (one
backward pass of the gradient per parameter), symmetrised, and eigvalsh'd.

Run with the reference venv:  /work/torch-ref/bin/python train/tests/hvp/gen_hvp.py
"""

import json
import os

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
DATASETS = os.path.join(HERE, "..", "..", "..", "datasets")
BATCH = 32

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


def load(name):
    """The training set as gradlab's `data::load` reads it (mnist1d as stored, digits as [1, 8, 8])."""
    if name == "mnist1d":
        d = np.load(os.path.join(DATASETS, "mnist1d", "mnist1d.npz"))
        shape = (40,)
    elif name == "digits":
        d = np.load(os.path.join(DATASETS, "digits", "digits.npz"))
        shape = (1, 8, 8)
    else:
        raise ValueError(name)
    x = torch.from_numpy(d["x"].astype(np.float32)).reshape((-1,) + shape)
    y = torch.from_numpy(d["y"].astype(np.int64))
    return x, y


class Residual(nn.Module):
    """gradlab's residual block: body(x) + shortcut(x), the shortcut the identity when absent."""

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = nn.Sequential(*body)
        self.shortcut = nn.Sequential(*shortcut) if shortcut else None

    def forward(self, x):
        return self.body(x) + (self.shortcut(x) if self.shortcut is not None else x)


class GlobalAvgPool(nn.Module):
    """gradlab's global_avg_pool: [N, C, spatial...] -> [N, C]."""

    def forward(self, x):
        return x.flatten(2).mean(2)


# --- models: (torch modules, gradlab layer tables) -----------------------------------------------


def lin(i, o, bias=True):
    return nn.Linear(i, o, bias=bias), {"type": "linear", "out_features": o, "bias": bias}


def act(module, table):
    return module, table


def seq(*pairs):
    return [p[0] for p in pairs], [p[1] for p in pairs]


def mlp_tanh():
    return seq(lin(40, 16), act(nn.Tanh(), {"type": "tanh"}), lin(16, 10))


def mlp_relu_bn():
    return seq(
        lin(40, 24),
        (nn.BatchNorm1d(24), {"type": "batchnorm1d"}),
        act(nn.ReLU(), {"type": "relu"}),
        lin(24, 10),
    )


def cnn_bn():
    return seq(
        (nn.Conv2d(1, 4, 3, padding=1), {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}),
        (nn.BatchNorm2d(4), {"type": "batchnorm2d"}),
        act(nn.ReLU(), {"type": "relu"}),
        (nn.MaxPool2d(2), {"type": "maxpool2d", "kernel_size": 2}),
        (nn.Conv2d(4, 6, 3, padding=1), {"type": "conv2d", "out_channels": 6, "kernel_size": 3, "padding": 1}),
        (nn.BatchNorm2d(6), {"type": "batchnorm2d"}),
        act(nn.Tanh(), {"type": "tanh"}),
        (GlobalAvgPool(), {"type": "global_avg_pool"}),
        lin(6, 10),
    )


def residual():
    body1 = [lin(16, 16), (nn.BatchNorm1d(16), {"type": "batchnorm1d"}), act(nn.GELU(), {"type": "gelu"}), lin(16, 16)]
    body2 = [lin(16, 12), act(nn.SiLU(), {"type": "silu"})]
    short2 = [lin(16, 12, bias=False)]
    block1 = (Residual([m for m, _ in body1]), {"type": "residual", "body": [t for _, t in body1]})
    block2 = (
        Residual([m for m, _ in body2], [m for m, _ in short2]),
        {"type": "residual", "body": [t for _, t in body2], "shortcut": [t for _, t in short2]},
    )
    return seq(lin(40, 16), act(nn.Tanh(), {"type": "tanh"}), block1, block2, lin(12, 10))


def activations():
    return seq(
        lin(40, 12),
        act(nn.GELU(), {"type": "gelu"}),
        lin(12, 12),
        act(nn.SiLU(), {"type": "silu"}),
        lin(12, 12),
        # threshold 1: some inputs take softplus's linear branch (f'' = 0 there).
        act(nn.Softplus(beta=2.0, threshold=1.0), {"type": "softplus", "beta": 2.0, "threshold": 1.0}),
        lin(12, 12),
        act(nn.ELU(alpha=0.7), {"type": "elu", "alpha": 0.7}),
        lin(12, 12),
        act(nn.Sigmoid(), {"type": "sigmoid"}),
        lin(12, 12),
        act(nn.LeakyReLU(0.1), {"type": "leaky_relu", "negative_slope": 0.1}),
        lin(12, 10),
    )


def mse_tanh():
    return seq(lin(6, 10), act(nn.Tanh(), {"type": "tanh"}), lin(10, 3))


def mse_conv1d():
    return seq(
        (nn.Conv1d(2, 3, 3, padding=1), {"type": "conv1d", "out_channels": 3, "kernel_size": 3, "padding": 1}),
        act(nn.ELU(), {"type": "elu"}),
        (nn.MaxPool1d(2), {"type": "maxpool1d", "kernel_size": 2}),
        (nn.Conv1d(3, 4, 2, stride=2, dilation=1), {"type": "conv1d", "out_channels": 4, "kernel_size": 2, "stride": 2}),
        (nn.BatchNorm1d(4), {"type": "batchnorm1d"}),
        act(nn.Softplus(), {"type": "softplus"}),
        (nn.AvgPool1d(3, stride=1, padding=1), {"type": "avgpool1d", "kernel_size": 3, "stride": 1, "padding": 1}),
        (nn.Flatten(), {"type": "flatten"}),
        lin(12, 2),
    )


# name, model, data ("mnist1d" / "digits", or ("random", x shape, target dim) for MSE),
# loss ("ce", label smoothing) or "mse", torch seed, SGD steps taken before the reference point.
CASES = [
    ("mlp_tanh", mlp_tanh, "mnist1d", ("ce", 0.0), 1, 0),
    ("mlp_tanh_trained", mlp_tanh, "mnist1d", ("ce", 0.0), 1, 100),
    ("mlp_relu_bn", mlp_relu_bn, "mnist1d", ("ce", 0.1), 2, 0),
    ("cnn_bn", cnn_bn, "digits", ("ce", 0.1), 3, 0),
    ("residual", residual, "mnist1d", ("ce", 0.0), 4, 0),
    ("activations", activations, "mnist1d", ("ce", 0.05), 5, 0),
    ("mse_tanh", mse_tanh, ("random", (6,), 3), "mse", 6, 0),
    ("mse_conv1d", mse_conv1d, ("random", (2, 12), 2), "mse", 7, 0),
]
DIRECTIONS = 2


# --- TOML writing --------------------------------------------------------------------------------


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def toml_table(name, t):
    return "\n".join([f"[{name}]"] + [f"{k} = {toml_value(v)}" for k, v in t.items()]) + "\n"


def write_toml(path, case, data, loss, toml_layers):
    if isinstance(data, str):
        data_table = {"dataset": data, "batch_size": BATCH, "shuffle": False, "subset": 10 * BATCH}
    else:
        # MSE cases: the engine-level test reads the batch from the JSON; this dataset only
        # gives the run config the right shapes.
        _, shape, out = data
        data_table = {
            "dataset": "teacher_student",
            "n": BATCH,
            "dim": int(np.prod(shape)),
            "dim_out": out,
            "input_shape": list(shape),
            "batch_size": BATCH,
            "shuffle": False,
        }
    train = {"steps": 1}
    if loss == "mse":
        train["loss"] = "mse"
    else:
        train["loss"] = "cross_entropy"
        train["label_smoothing"] = loss[1]
    out = [
        f"# Exact-Hessian case `{case}` (generated by gen_hvp.py; do not edit by hand).\n",
        "seed = 0\n",
        toml_table("data", data_table),
        toml_table("model", {"init": f"{case}_init.safetensors"}),
    ]
    for layer in toml_layers:
        out.append("[[model.layers]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in layer.items()))
    out.append(toml_table("optimizer", {"name": "sgd", "lr": 0.01}))
    out.append(toml_table("train", train))
    out.append(toml_table("log", {"tensorboard": False}))
    with open(path, "w") as f:
        f.write("\n".join(out))


# --- the Hessian ---------------------------------------------------------------------------------


def f32_list(t):
    # Exact: every f32 is an f64, and repr of an f64 round-trips.
    return [float(v) for v in t.detach().to(torch.float32).double().reshape(-1).tolist()]


def hessian(model, x, target, loss):
    """Loss, gradient and full Hessian (f64) of the mean loss in training mode."""
    params = [p for p in model.parameters()]
    if loss == "mse":
        out = model(x)
        value = ((out - target) ** 2).mean()
    else:
        out = model(x)
        value = nn.functional.cross_entropy(out, target, label_smoothing=loss[1])
    grads = torch.autograd.grad(value, params, create_graph=True)
    g = torch.cat([gi.reshape(-1) for gi in grads])
    n = g.numel()
    rows = []
    for i in range(n):
        r = torch.autograd.grad(g[i], params, retain_graph=True, allow_unused=True)
        rows.append(torch.cat([(ri if ri is not None else torch.zeros_like(p)).reshape(-1) for ri, p in zip(r, params)]))
    h = torch.stack(rows)
    asym = (h - h.T).abs().max().item()
    h = 0.5 * (h + h.T)
    return value.item(), g.detach(), h.detach(), asym


def run_case(name, model_fn, data, loss, seed, sgd_steps):
    torch.manual_seed(seed)
    torch_layers, toml_layers = model_fn()
    model = nn.Sequential(*torch_layers)
    gen = torch.Generator().manual_seed(1000 + seed)
    if isinstance(data, str):
        x_all, y_all = load(data)
        if sgd_steps:
            # Move the weights to a trained point (plain SGD in f32 over the first batches).
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            model.train()
            for step in range(sgd_steps):
                s = (step * BATCH) % (10 * BATCH)
                opt.zero_grad()
                lf = nn.functional.cross_entropy(model(x_all[s : s + BATCH]), y_all[s : s + BATCH], label_smoothing=loss[1])
                lf.backward()
                opt.step()
            # Fresh running statistics as a newly loaded model has them (none in these models).
        x, target = x_all[:BATCH], y_all[:BATCH]
        in_shape = list(x.shape[1:])
    else:
        _, shape, out_dim = data
        x = torch.randn((BATCH,) + shape, generator=gen).float()
        target = torch.randn((BATCH, out_dim), generator=gen).float()
        in_shape = list(shape)
    sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(HERE, f"{name}_init.safetensors"))
    write_toml(os.path.join(HERE, f"{name}.toml"), name, data, loss, toml_layers)

    # f64 from here on: the same f32 weights and batch, exact arithmetic up to f64 rounding.
    model64 = nn.Sequential(*torch_layers).double()
    model64.train()
    x64 = x.double()
    t64 = target if loss != "mse" else target.double()
    value, g, h, asym = hessian(model64, x64, t64, loss)
    evals = torch.linalg.eigvalsh(h)
    names = [k for k, _ in model64.named_parameters()]
    sizes = [p.numel() for p in model64.parameters()]

    directions = []
    for _ in range(DIRECTIONS):
        v = torch.randn(g.numel(), generator=gen, dtype=torch.float64)
        v = (v / v.norm()).float().double()  # f32 values, unit norm up to f32 rounding
        hv = h @ v
        directions.append((v, hv))

    def split(t):
        out, k = {}, 0
        for nm, sz in zip(names, sizes):
            out[nm] = t[k : k + sz]
            k += sz
        return out

    ref = {
        "case": name,
        "torch_version": torch.__version__,
        "in_shape": in_shape,
        "loss": "mse" if loss == "mse" else "cross_entropy",
        "label_smoothing": 0.0 if loss == "mse" else loss[1],
        "probe": isinstance(data, str),
        "sgd_steps_before": sgd_steps,
        "parameters": names,
        "num_parameters": int(g.numel()),
        "x": f32_list(x),
        "targets": (target.tolist() if loss != "mse" else f32_list(target)),
        "loss_value": value,
        "grad_norm": g.norm().item(),
        "hessian_asymmetry": asym,
        "lambda_max": evals[-1].item(),
        "lambda_min": evals[0].item(),
        "trace": torch.trace(h).item(),
        "frobenius": h.norm().item(),
        "top_eigenvalues": [e.item() for e in evals.flip(0)[:5]],
        "bottom_eigenvalues": [e.item() for e in evals[:5]],
        "directions": [
            {
                "v": {k: f32_list(t) for k, t in split(v).items()},
                "hv": {k: t.tolist() for k, t in split(hv).items()},
            }
            for v, hv in directions
        ],
    }
    with open(os.path.join(HERE, f"{name}.json"), "w") as f:
        json.dump(ref, f, separators=(",", ":"))
    print(
        f"{name}: {g.numel()} parameters, loss {value:.6f}, lambda_max {evals[-1]:.6g}, "
        f"lambda_min {evals[0]:.6g}, trace {torch.trace(h):.6g}, asymmetry {asym:.1e}"
    )


if __name__ == "__main__":
    for case in CASES:
        run_case(*case)
