#!/usr/bin/env python3
"""Generates the PyTorch reference runs that `train/tests/parity.rs` replays with `train::run`.

For every case it writes, beside this script:
  {case}.toml               the gradlab run config (the same model, data and optimizer)
  {case}_init.safetensors   PyTorch's initial state_dict (f32; num_batches_tracked as i64),
                            loaded by the config's `[model] init`
  {case}_final.safetensors  PyTorch's state_dict after training
  {case}.json               per-step mini-batch losses, final test loss, weights checksum

The data pipeline is gradlab's, replicated: the bundled dataset read as `data::load` reads it
(mnist1d as stored, digits as stored with values 0-16 viewed as [1, 8, 8]), the first `subset`
training examples, `shuffle = false` (batches in dataset order), the short last batch kept, no
validation split. Schedules step after every optimizer step (`interval = "step"`) or after every
epoch (`interval = "epoch"`), as gradlab's trainer does. Evaluation on the test set at the end
of the run uses eval mode (BatchNorm running statistics).

Run with the reference venv:  /work/torch-ref/bin/python train/tests/parity/gen_parity.py

Then, with gradlab built (`cargo build --release -p cli`), the strict-load check:
    /work/torch-ref/bin/python train/tests/parity/gen_parity.py --gradlab-strict-load
trains every case with gradlab (`gradlab train {case}.toml`), loads gradlab's `model.safetensors`
into the PyTorch module with `load_state_dict(strict=True)` (every key, shape and dtype as
PyTorch's own state_dict, `num_batches_tracked` int64 included), evaluates it on the test set in
eval mode, and records the result as `gradlab_model_in_torch` in `{case}.json`; parity.rs holds
gradlab's own final test loss to that evaluation.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
DATASETS = os.path.join(HERE, "..", "..", "..", "datasets")

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


def load(name):
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
    xt = torch.from_numpy(d["x_test"].astype(np.float32)).reshape((-1,) + shape)
    yt = torch.from_numpy(d["y_test"].astype(np.int64))
    return x, y, xt, yt


# --- models: (torch module list, gradlab layer tables) ------------------------------------------


# `bias`: whether the layer in front of BatchNorm has a bias. Its gradient is zero up to rounding
# (BatchNorm subtracts the batch mean: about 4e-9 against 8e-2 for the weight), so under Adam,
# which divides by the gradient's RMS, that bias follows rounding noise at full learning rate and
# no two implementations agree on it (nor on the running_mean that tracks it); the loss does not
# depend on it. The AdamW cases therefore drop it, as is usual in front of BatchNorm.


def mlp_bn(bias):
    torch_layers = [nn.Linear(40, 64, bias=bias), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 10)]
    toml_layers = [
        {"type": "linear", "out_features": 64, "bias": bias},
        {"type": "batchnorm1d"},
        {"type": "relu"},
        {"type": "linear", "out_features": 10},
    ]
    return torch_layers, toml_layers


def small_cnn(bias):
    torch_layers = [
        nn.Conv2d(1, 8, kernel_size=3, padding=1, bias=bias),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 10),
    ]
    toml_layers = [
        {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1, "bias": bias},
        {"type": "batchnorm2d"},
        {"type": "relu"},
        {"type": "maxpool2d", "kernel_size": 2},
        {"type": "flatten"},
        {"type": "linear", "out_features": 10},
    ]
    return torch_layers, toml_layers


# --- optimizer setups ----------------------------------------------------------------------------

# Each: gradlab [optimizer]/[clip]/[schedule] tables, and a function building the torch
# optimizer + scheduler (+ clip max_norm) for a model and a step count.

EPOCHS = 8
SUBSET = 500
BATCH = 32
STEPS_PER_EPOCH = -(-SUBSET // BATCH)  # the short last batch (20 examples) is kept
STEPS = EPOCHS * STEPS_PER_EPOCH  # 128


def sgd_nesterov(lr, wd, schedule):
    """SGD with Nesterov momentum and (coupled) weight decay, with an epoch schedule."""

    def make(model):
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=wd)
        if schedule["name"] == "cosine":
            sch = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=schedule["t_max"])
        elif schedule["name"] == "multistep":
            sch = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=schedule["milestones"], gamma=schedule["gamma"])
        else:
            raise ValueError(schedule)
        return opt, sch, None

    tables = {
        "optimizer": {"name": "sgd", "lr": lr, "momentum": 0.9, "nesterov": True, "weight_decay": wd},
        "schedule": dict(schedule, interval="epoch"),
    }
    return make, tables, "epoch"


def adamw_clip(lr, wd, max_norm, schedule):
    """AdamW with global-norm clipping and a per-step schedule."""

    def make(model):
        opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=wd)
        if schedule["name"] == "one_cycle":
            sch = torch.optim.lr_scheduler.OneCycleLR(
                opt, max_lr=schedule["max_lr"], total_steps=schedule["total_steps"], pct_start=schedule["pct_start"]
            )
        elif schedule["name"] == "cosine":
            sch = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=schedule["t_max"], eta_min=schedule["eta_min"])
        else:
            raise ValueError(schedule)
        return opt, sch, max_norm

    tables = {
        "optimizer": {"name": "adamw", "lr": lr, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": wd},
        "clip": {"max_norm": max_norm},
        "schedule": dict(schedule, interval="step"),
    }
    return make, tables, "step"


CASES = [
    # name, dataset, model, optimizer setup, torch seed
    ("mlp_bn_sgd", "mnist1d", lambda: mlp_bn(True), sgd_nesterov(0.05, 5e-4, {"name": "cosine", "t_max": EPOCHS}), 1),
    (
        "mlp_bn_adamw",
        "mnist1d",
        lambda: mlp_bn(False),
        adamw_clip(0.01, 0.01, 1.0, {"name": "one_cycle", "max_lr": 0.01, "total_steps": STEPS, "pct_start": 0.25}),
        2,
    ),
    (
        "cnn_sgd",
        "digits",
        lambda: small_cnn(True),
        sgd_nesterov(0.01, 1e-3, {"name": "multistep", "milestones": [3, 6], "gamma": 0.3}),
        3,
    ),
    (
        "cnn_adamw",
        "digits",
        lambda: small_cnn(False),
        adamw_clip(0.003, 0.05, 0.5, {"name": "cosine", "t_max": STEPS, "eta_min": 1e-4}),
        4,
    ),
]


# --- TOML writing (the few value types the configs use) ------------------------------------------


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
    raise TypeError(v)


def toml_table(name, t):
    lines = [f"[{name}]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in t.items()]
    return "\n".join(lines) + "\n"


def write_toml(path, case, dataset, toml_layers, tables):
    out = [
        f"# PyTorch-parity case `{case}` (generated by gen_parity.py; do not edit by hand).\n",
        "seed = 0\n",
        toml_table("data", {"dataset": dataset, "batch_size": BATCH, "shuffle": False, "subset": SUBSET}),
        toml_table("model", {"init": f"{case}_init.safetensors"}),
    ]
    for layer in toml_layers:
        out.append("[[model.layers]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in layer.items()))
    for section in ("optimizer", "clip", "schedule"):
        if section in tables:
            out.append(toml_table(section, tables[section]))
    out.append(toml_table("train", {"epochs": EPOCHS}))
    out.append(toml_table("log", {"tensorboard": False}))
    with open(path, "w") as f:
        f.write("\n".join(out))


def state_dict_f32(model):
    # f32 tensors, num_batches_tracked kept as int64 (gradlab's loader accepts it).
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def checksum(sd):
    # Sum of |v| over every tensor (buffers included), in f64.
    return float(sum(v.double().abs().sum().item() for v in sd.values()))


def run_case(name, dataset, model_fn, setup, seed):
    make, tables, interval = setup
    torch.manual_seed(seed)
    torch_layers, toml_layers = model_fn()
    model = nn.Sequential(*torch_layers)
    save_file(state_dict_f32(model), os.path.join(HERE, f"{name}_init.safetensors"))
    write_toml(os.path.join(HERE, f"{name}.toml"), name, dataset, toml_layers, tables)

    x, y, xt, yt = load(dataset)
    x, y = x[:SUBSET], y[:SUBSET]
    opt, sch, max_norm = make(model)
    loss_fn = nn.CrossEntropyLoss()
    losses, lrs, grad_norms = [], [], []
    clipped = 0
    model.train()
    for _epoch in range(EPOCHS):
        for start in range(0, SUBSET, BATCH):
            xb, yb = x[start : start + BATCH], y[start : start + BATCH]
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            if max_norm is not None:
                norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm)
                clipped += int(norm > max_norm)
            else:
                norm = nn.utils.get_total_norm([p.grad for p in model.parameters()])
            grad_norms.append(norm.item())
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            losses.append(loss.item())
            if interval == "step":
                sch.step()
        if interval == "epoch":
            sch.step()
    assert len(losses) == STEPS
    model.eval()
    with torch.no_grad():
        test_loss = float(loss_fn(model(xt), yt))
        test_acc = float((model(xt).argmax(1) == yt).double().mean())
    final = state_dict_f32(model)
    save_file(final, os.path.join(HERE, f"{name}_final.safetensors"))
    out = {
        "case": name,
        "torch_version": torch.__version__,
        "steps": len(losses),
        "epochs": EPOCHS,
        "losses": losses,
        "lrs": lrs,
        "clipped_steps": clipped,
        "grad_norms": grad_norms,
        "final_test_loss": test_loss,
        "final_test_accuracy": test_acc,
        "final_weights_abs_sum": checksum(final),
    }
    with open(os.path.join(HERE, f"{name}.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(
        f"{name}: {len(losses)} steps, loss {losses[0]:.4f} -> {losses[-1]:.4f}, "
        f"test loss {test_loss:.4f} acc {test_acc:.3f}, clipped {clipped}"
    )


def gradlab_strict_load(name, dataset, model_fn, _setup, _seed):
    """Trains the case with gradlab and loads its weights into PyTorch with strict=True."""
    root = os.path.join(HERE, "..", "..", "..")
    gradlab = os.environ.get("GRADLAB", os.path.join(root, "target", "release", "gradlab"))
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [gradlab, "train", os.path.join(HERE, f"{name}.toml"), "--out", tmp, "--set", "log.tensorboard=false"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        sd = load_file(os.path.join(tmp, "model.safetensors"))
    torch_layers, _ = model_fn()
    model = nn.Sequential(*torch_layers)
    reference = model.state_dict()
    for k, v in sd.items():
        assert v.dtype == reference[k].dtype, f"{name}: `{k}` is {v.dtype}, PyTorch keeps {reference[k].dtype}"
    model.load_state_dict(sd, strict=True)  # raises on a missing, unexpected or misshapen key
    _, _, xt, yt = load(dataset)
    model.eval()
    with torch.no_grad():
        out = model(xt)
        test_loss = float(nn.CrossEntropyLoss()(out, yt))
        test_acc = float((out.argmax(1) == yt).double().mean())
    path = os.path.join(HERE, f"{name}.json")
    with open(path) as f:
        ref = json.load(f)
    ref["gradlab_model_in_torch"] = {
        "strict_load": True,
        "keys": sorted(sd),
        "test_loss": test_loss,
        "test_accuracy": test_acc,
    }
    with open(path, "w") as f:
        json.dump(ref, f, indent=1)
    print(f"{name}: gradlab's model.safetensors loads with strict=True; test loss in PyTorch {test_loss:.6f}")


if __name__ == "__main__":
    step = gradlab_strict_load if "--gradlab-strict-load" in sys.argv[1:] else run_case
    for case in CASES:
        step(*case)
