#!/usr/bin/env python3
"""Replays a `gradlab compare` study in PyTorch: the same runs, same cores, timed end to end.

    python bench/compare_torch.py OUT/results.db [--workers 2] [--study NAME] [--json FILE]

Every row of the store's `runs` table with status `done` or `failed` is trained again in eager
PyTorch from its `config` (the complete gradlab run config, TOML):

* data as gradlab loads it: the bundled datasets by name (`mnist1d`, `digits`, `mnist-10k`
  from the repository's `datasets/`, or `$GRADLAB_DATA`), MNIST pixels / 255, `input_shape`,
  `subset`, `validation_split` carved with gradlab's own generator (ChaCha8 seeded with
  `seed ^ 0x5EED0F5A11`, so the very same examples are held out), `standardize` (per feature or
  per channel, fitted on the training part); each epoch a fresh shuffle (`torch.randperm`,
  seeded; `--exact-order` uses gradlab's ChaCha8 order instead, slower), `batch_size`,
  `drop_last`;
* the model from `[[model.layers]]` (PyTorch constructor argument names, input sizes inferred),
  PyTorch's default initialisation after `torch.manual_seed(seed)`;
* the optimizer from `[optimizer]` (sgd, adagrad, rmsprop, adam, adamw, nadam with PyTorch's
  fused or foreach kernels; lion as a small foreach `torch.optim.Optimizer` with gradlab's update),
  `[clip]` (max_norm / value), `[schedule]` (PyTorch's schedulers, per epoch or per step as
  gradlab steps them);
* per epoch: train loss and accuracy over the epoch's batches, then validation and test loss and
  accuracy in eval mode; a non-finite mini-batch loss stops the run (diverged), as in gradlab.

Each worker process uses one thread (`torch.set_num_threads(1)`); `--workers` processes
(default 2, gradlab's default) share the runs. gradlab's extras (metrics.jsonl, TensorBoard
files, checkpoints, the doctor's instruments, the store's writes) have no counterpart here, so the
comparison leans in PyTorch's favour.

Prints the number of runs, the wall seconds, runs per hour, and how the final test accuracies
compare with the ones gradlab stored (per problem: mean |Δ| and mean Δ over the runs both
finished); writes JSON with every run's final metrics (default: `torch_replay.json` beside the
database; `--json -` prints it to stdout instead).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import multiprocessing as mp
import os
import sqlite3
import sys
import time
import tomllib

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---------------------------------------------------------------------------------------------
# gradlab's generator (data/src/rng.rs): ChaCha8Rng::seed_from_u64(seed) on stream `stream`,
# rand 0.8's `gen_range(0..=i)` for usize, Fisher–Yates from the identity.

M64 = (1 << 64) - 1


def _pcg32_key(state: int) -> list[int]:
    """rand_core 0.6 `seed_from_u64`: eight PCG32 outputs as the 256-bit ChaCha key."""
    words = []
    for _ in range(8):
        state = (state * 6364136223846793005 + 11634580027462260723) & M64
        xs = (((state >> 18) ^ state) >> 27) & 0xFFFFFFFF
        rot = state >> 59
        words.append(((xs >> rot) | (xs << ((32 - rot) & 31))) & 0xFFFFFFFF)
    return words


class ChaCha8:
    """rand_chacha 0.3's ChaCha8Rng: 64-bit block counter, 64-bit stream, `next_u64`."""

    def __init__(self, seed: int, stream: int):
        self.key = _pcg32_key(seed & M64)
        self.stream = stream & M64
        self.block = 0
        self.buf: list[int] = []
        self.pos = 0

    def _refill(self, nb: int = 64) -> None:
        ctr = np.arange(self.block, self.block + nb, dtype=np.uint64)
        self.block += nb
        init = np.empty((16, nb), dtype=np.uint32)
        for i, c in enumerate((0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)):
            init[i] = c
        for i, k in enumerate(self.key):
            init[4 + i] = k
        init[12] = (ctr & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        init[13] = (ctr >> np.uint64(32)).astype(np.uint32)
        init[14] = self.stream & 0xFFFFFFFF
        init[15] = self.stream >> 32
        x = [init[i].copy() for i in range(16)]

        def rotl(v, n):
            return (v << np.uint32(n)) | (v >> np.uint32(32 - n))

        def qr(a, b, c, d):
            x[a] += x[b]
            x[d] = rotl(x[d] ^ x[a], 16)
            x[c] += x[d]
            x[b] = rotl(x[b] ^ x[c], 12)
            x[a] += x[b]
            x[d] = rotl(x[d] ^ x[a], 8)
            x[c] += x[d]
            x[b] = rotl(x[b] ^ x[c], 7)

        for _ in range(4):  # 8 rounds
            qr(0, 4, 8, 12), qr(1, 5, 9, 13), qr(2, 6, 10, 14), qr(3, 7, 11, 15)
            qr(0, 5, 10, 15), qr(1, 6, 11, 12), qr(2, 7, 8, 13), qr(3, 4, 9, 14)
        words = np.stack([x[i] + init[i] for i in range(16)]).T.reshape(-1).astype(np.uint64)
        self.buf = (words[0::2] | (words[1::2] << np.uint64(32))).tolist()
        self.pos = 0

    def next_u64(self) -> int:
        if self.pos >= len(self.buf):
            self._refill()
        v = self.buf[self.pos]
        self.pos += 1
        return v


def permutation(seed: int, stream: int, n: int) -> list[int]:
    """`data::rng::permutation(&mut rng(seed, stream), ..)`: gradlab's shuffles and splits."""
    r = ChaCha8(seed, stream)
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        rng = i + 1
        zone = ((rng << (64 - rng.bit_length())) & M64) - 1
        while True:
            m = r.next_u64() * rng
            if (m & M64) <= zone:
                j = m >> 64
                break
        order[i], order[j] = order[j], order[i]
    return order


# ---------------------------------------------------------------------------------------------
# Data (data/src/bundled.rs, train/src/data.rs).

_RAW: dict = {}
_PREPARED: dict = {}


def data_root() -> str:
    return os.environ.get("GRADLAB_DATA") or os.path.join(ROOT, "datasets")


def _read_idx(path: str) -> np.ndarray:
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        b = f.read()
    ndim = b[3]
    dims = [int.from_bytes(b[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_raw(name: str):
    """(x_train, y_train, x_test, y_test, example shape) of a bundled dataset, as gradlab loads it."""
    if name in _RAW:
        return _RAW[name]
    root = data_root()
    if name == "mnist-10k":
        d = os.path.join(root, "mnist-10k")
        parts = []
        for p in ("train", "t10k"):
            img = _read_idx(os.path.join(d, f"{p}-images-idx3-ubyte.gz"))
            lab = _read_idx(os.path.join(d, f"{p}-labels-idx1-ubyte.gz"))
            parts += [img.reshape(len(img), -1).astype(np.float32) / np.float32(255.0),
                      lab.astype(np.int64)]
        out = (*parts, [1, 28, 28])
    elif name in ("mnist1d", "digits"):
        z = np.load(os.path.join(root, name, f"{name}.npz"))
        shape = [1, 8, 8] if name == "digits" else list(z["x"].shape[1:])
        out = (z["x"].reshape(len(z["x"]), -1).astype(np.float32), z["y"].astype(np.int64),
               z["x_test"].reshape(len(z["x_test"]), -1).astype(np.float32),
               z["y_test"].astype(np.int64), shape)
    else:
        raise ValueError(f"[data] dataset = {name!r}: the replay knows the bundled datasets "
                         "mnist1d, digits and mnist-10k only")
    _RAW[name] = out
    return out


_DATA_KEYS = {"dataset", "batch_size", "eval_batch_size", "shuffle", "drop_last",
              "validation_split", "input_shape", "standardize", "subset", "download"}


def prepare(dc: dict, seed: int):
    """train/src/data.rs `DataConfig::prepare` for a bundled dataset: torch tensors
    (x_train, y_train, x_val|None, y_val|None, x_test, y_test, shape)."""
    import torch

    unknown = set(dc) - _DATA_KEYS
    if unknown:
        raise ValueError(f"[data] keys the replay does not support: {sorted(unknown)} "
                         "(e.g. augmentation)")
    split = dc.get("validation_split")
    std = dc.get("standardize", False)
    std = {False: "off", True: "feature", "feature": "feature", "channel": "channel"}[std]
    key = (dc["dataset"], tuple(dc.get("input_shape") or ()), dc.get("subset"), split, std,
           seed if split else None)
    if key in _PREPARED:
        return _PREPARED[key]
    xtr, ytr, xte, yte, shape = load_raw(dc["dataset"])
    if dc.get("input_shape"):
        shape = list(dc["input_shape"])
        if int(np.prod(shape)) != xtr.shape[1]:
            raise ValueError(f"[data] input_shape = {shape} does not hold {xtr.shape[1]} values")
    if dc.get("subset") and dc["subset"] < len(xtr):
        xtr, ytr = xtr[: dc["subset"]], ytr[: dc["subset"]]
    xva = yva = None
    if split:
        n = len(xtr)
        n_val = max(int(math.floor(split * n + 0.5)), 1)
        order = permutation(seed ^ 0x005E_ED0F_5A11, M64, n)
        val = np.sort(np.array(order[:n_val]))
        tr = np.sort(np.array(order[n_val:]))
        xva, yva, xtr, ytr = xtr[val], ytr[val], xtr[tr], ytr[tr]
    if std != "off":
        x64 = xtr.astype(np.float64)
        if std == "feature":
            mean = x64.mean(0)
            sd = np.sqrt(((x64 - mean) ** 2).mean(0))
        else:
            c = shape[0] if len(shape) >= 2 else 1
            per = x64.reshape(len(x64), c, -1)
            m = per.mean(axis=(0, 2))
            s = np.sqrt(((per - m[None, :, None]) ** 2).mean(axis=(0, 2)))
            mean = np.repeat(m, per.shape[2])
            sd = np.repeat(s, per.shape[2])
        sd = np.where(sd > 0, sd, 1.0).astype(np.float32)
        mean = mean.astype(np.float32)
        xtr = (xtr - mean) / sd
        xte = (xte - mean) / sd
        if xva is not None:
            xva = (xva - mean) / sd

    def t(x):
        return None if x is None else torch.from_numpy(np.ascontiguousarray(x)).reshape(
            len(x), *shape)

    def lab(y):
        return None if y is None else torch.from_numpy(np.ascontiguousarray(y))

    out = (t(xtr), lab(ytr), t(xva), lab(yva), t(xte), lab(yte), shape)
    _PREPARED[key] = out
    return out


# ---------------------------------------------------------------------------------------------
# Model (train/src/model.rs).

_INIT_KEYS = {"weight_init", "init_std", "init_mean", "init_a", "init_b", "init_value",
              "init_gain", "init_mode", "init_nonlinearity", "bias_init", "bias_value"}


def _pair(v):
    return tuple(v) if isinstance(v, list) else v


def build_layer(spec: dict, in_shape: list[int]):
    from torch import nn

    spec = dict(spec)
    ty = spec.pop("type")
    init = {k: spec.pop(k) for k in list(spec) if k in _INIT_KEYS}
    if ty == "linear":
        m = nn.Linear(spec.pop("in_features", in_shape[-1]), spec.pop("out_features"),
                      bias=spec.pop("bias", True))
    elif ty in ("conv1d", "conv2d"):
        cls = nn.Conv1d if ty == "conv1d" else nn.Conv2d
        kw = {k: _pair(spec.pop(k)) for k in ("kernel_size", "stride", "padding", "dilation")
              if k in spec}
        m = cls(spec.pop("in_channels", in_shape[0]), spec.pop("out_channels"),
                bias=spec.pop("bias", True), **kw)
    elif ty in ("maxpool1d", "maxpool2d", "avgpool1d", "avgpool2d"):
        cls = {"maxpool1d": nn.MaxPool1d, "maxpool2d": nn.MaxPool2d,
               "avgpool1d": nn.AvgPool1d, "avgpool2d": nn.AvgPool2d}[ty]
        kw = {k: _pair(spec.pop(k)) for k in ("kernel_size", "stride", "padding") if k in spec}
        m = cls(**kw)
    elif ty == "global_avg_pool":
        m = _GlobalAvgPool()
    elif ty == "flatten":
        m = nn.Flatten(spec.pop("start_dim", 1), int(spec.pop("end_dim", -1)))
    elif ty in ("batchnorm1d", "batchnorm2d"):
        cls = nn.BatchNorm1d if ty == "batchnorm1d" else nn.BatchNorm2d
        mom = spec.pop("momentum", 0.1)
        m = cls(spec.pop("num_features", in_shape[0]), eps=spec.pop("eps", 1e-5),
                momentum=None if mom == "none" else mom, affine=spec.pop("affine", True),
                track_running_stats=spec.pop("track_running_stats", True))
    elif ty == "dropout":
        m = nn.Dropout(spec.pop("p", 0.5))
    elif ty == "residual":
        body, shape = build_layers(spec.pop("body"), in_shape)
        short = None
        if "shortcut" in spec:
            short, _ = build_layers(spec.pop("shortcut"), in_shape)
        m = _Residual(body, short)
    elif ty == "relu":
        m = nn.ReLU()
    elif ty == "sigmoid":
        m = nn.Sigmoid()
    elif ty == "tanh":
        m = nn.Tanh()
    elif ty == "gelu":
        m = nn.GELU(spec.pop("approximate", "none"))
    elif ty == "silu":
        m = nn.SiLU()
    elif ty == "leaky_relu":
        m = nn.LeakyReLU(spec.pop("negative_slope", 0.01))
    elif ty == "elu":
        m = nn.ELU(spec.pop("alpha", 1.0))
    elif ty == "softplus":
        m = nn.Softplus(spec.pop("beta", 1.0), spec.pop("threshold", 20.0))
    else:
        raise ValueError(f"model layer type {ty!r} is not supported by the replay")
    if spec:
        raise ValueError(f"model layer {ty}: keys the replay does not support: {sorted(spec)}")
    if init:
        _apply_init(m, init)
    return m


def _apply_init(m, init: dict) -> None:
    from torch import nn

    w = init.get("weight_init", "default")
    mode = init.get("init_mode", "fan_in")
    nl = init.get("init_nonlinearity", "leaky_relu")
    a = init.get("init_a", 0.0)
    gain = init.get("init_gain")
    fns = {
        "zeros": lambda t: nn.init.zeros_(t),
        "constant": lambda t: nn.init.constant_(t, init.get("init_value", 0.0)),
        "uniform": lambda t: nn.init.uniform_(t, a, init.get("init_b", 1.0)),
        "normal": lambda t: nn.init.normal_(t, init.get("init_mean", 0.0),
                                            init.get("init_std", 1.0)),
        "xavier_uniform": lambda t: nn.init.xavier_uniform_(t, gain or 1.0),
        "xavier_normal": lambda t: nn.init.xavier_normal_(t, gain or 1.0),
        "kaiming_uniform": lambda t: nn.init.kaiming_uniform_(t, a, mode, nl),
        "kaiming_normal": lambda t: nn.init.kaiming_normal_(t, a, mode, nl),
        "lecun_normal": lambda t: nn.init.kaiming_normal_(t, 0.0, "fan_in", "linear"),
        "orthogonal": lambda t: nn.init.orthogonal_(t, gain or 1.0),
    }
    if w != "default":
        fns[w](m.weight.data)
    b = init.get("bias_init", "default")
    if getattr(m, "bias", None) is not None and b != "default":
        nn.init.constant_(m.bias.data, 0.0 if b == "zeros" else init.get("bias_value", 0.0))


def _module_classes():
    import torch
    from torch import nn

    class GlobalAvgPool(nn.Module):
        def forward(self, x):
            return x.mean(dim=tuple(range(2, x.dim())))

    class Residual(nn.Module):
        def __init__(self, body, shortcut):
            super().__init__()
            self.body = body
            self.shortcut = shortcut

        def forward(self, x):
            return self.body(x) + (x if self.shortcut is None else self.shortcut(x))

    class Lion(torch.optim.Optimizer):
        """gradlab's lion (optim/src/optimizers/lion.rs; lucidrains' lion-pytorch):
        p ← p·(1 − lr·λ); p ← p − lr·sign(β₁·m + (1 − β₁)·g); m ← β₂·m + (1 − β₂)·g."""

        def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
            super().__init__(params, dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay))

        @torch.no_grad()
        def step(self, closure=None):
            for g in self.param_groups:
                ps = [p for p in g["params"] if p.grad is not None]
                if not ps:
                    continue
                grads = [p.grad for p in ps]
                ms = []
                for p in ps:
                    st = self.state[p]
                    if "exp_avg" not in st:
                        st["exp_avg"] = torch.zeros_like(p)
                    ms.append(st["exp_avg"])
                lr, (b1, b2), wd = g["lr"], g["betas"], g["weight_decay"]
                if wd:
                    torch._foreach_mul_(ps, 1.0 - lr * wd)
                u = torch._foreach_lerp(ms, grads, 1.0 - b1)
                torch._foreach_sign_(u)
                torch._foreach_add_(ps, u, alpha=-lr)
                torch._foreach_lerp_(ms, grads, 1.0 - b2)

    return GlobalAvgPool, Residual, Lion


_CLASSES = None


def _cls():
    global _CLASSES
    if _CLASSES is None:
        _CLASSES = _module_classes()
    return _CLASSES


def _GlobalAvgPool():
    return _cls()[0]()


def _Residual(body, short):
    return _cls()[1](body, short)


def build_layers(specs: list, in_shape: list[int]):
    """nn.Sequential of the layers, and the per-example output shape."""
    import torch
    from torch import nn

    mods = []
    shape = list(in_shape)
    for spec in specs:
        m = build_layer(spec, shape)
        was = m.training
        m.eval()
        with torch.no_grad():
            shape = list(m(torch.zeros(2, *shape)).shape[1:])
        m.train(was)
        mods.append(m)
    return nn.Sequential(*mods), shape


# ---------------------------------------------------------------------------------------------
# Optimizer and schedule (optim/src/optimizers, train/src/trainer.rs `build_optimizer`).

_OPT_KEYS = {
    "sgd": {"lr", "momentum", "dampening", "weight_decay", "nesterov", "maximize"},
    "adagrad": {"lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps",
                "maximize"},
    "rmsprop": {"lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize"},
    "adam": {"lr", "betas", "eps", "weight_decay", "decoupled_weight_decay", "amsgrad",
             "maximize"},
    "adamw": {"lr", "betas", "eps", "weight_decay", "amsgrad", "maximize"},
    "nadam": {"lr", "betas", "eps", "weight_decay", "momentum_decay",
              "decoupled_weight_decay", "maximize"},
    "lion": {"lr", "betas", "weight_decay"},
}


def build_optimizer(table: dict, params):
    import torch

    kw = dict(table)
    name = kw.pop("name")
    if name not in _OPT_KEYS:
        raise ValueError(f"[optimizer] name = {name!r}: the replay supports "
                         f"{', '.join(_OPT_KEYS)}")
    extra = set(kw) - _OPT_KEYS[name]
    if extra:
        raise ValueError(f"[optimizer] {name}: keys the replay does not support: {sorted(extra)}")
    if "betas" in kw:
        kw["betas"] = tuple(kw["betas"])
    o = torch.optim
    if name == "sgd":
        return o.SGD(params, fused=True, **kw)
    if name == "adagrad":
        return o.Adagrad(params, fused=True, **kw)
    if name == "rmsprop":
        return o.RMSprop(params, foreach=True, **kw)
    if name == "adam":
        if kw.pop("decoupled_weight_decay", False):
            return o.AdamW(params, fused=True, **kw)
        return o.Adam(params, fused=True, **kw)
    if name == "adamw":
        return o.AdamW(params, fused=True, **kw)
    if name == "nadam":
        return o.NAdam(params, foreach=True, **kw)
    return _cls()[2](params, **kw)


_SCHED = {
    "constant": ("ConstantLR", {}),
    "step": ("StepLR", {}),
    "multistep": ("MultiStepLR", {}),
    "exponential": ("ExponentialLR", {}),
    "cosine": ("CosineAnnealingLR", {"t_max": "T_max"}),
    "cosine_warm_restarts": ("CosineAnnealingWarmRestarts", {"t_0": "T_0", "t_mult": "T_mult"}),
    "linear": ("LinearLR", {}),
    "polynomial": ("PolynomialLR", {}),
    "one_cycle": ("OneCycleLR", {}),
    "reduce_on_plateau": ("ReduceLROnPlateau", {}),
}


def build_schedule(table: dict | None, opt, train: dict, steps_per_epoch: int, has_val: bool):
    """(scheduler, interval 'step'|'epoch', monitor) or None, with gradlab's defaults."""
    import torch

    if not table or table.get("name") == "none":
        return None
    kw = dict(table)
    name = kw.pop("name")
    if name not in _SCHED:
        raise ValueError(f"[schedule] name = {name!r} is not supported by the replay")
    step_mode = "steps" in train
    interval = kw.pop("interval", "step" if (name == "one_cycle" or step_mode) else "epoch")
    monitor = kw.pop("monitor", "val_loss" if has_val else "train_loss")
    if name in ("one_cycle", "cosine"):
        key = "total_steps" if name == "one_cycle" else "t_max"
        if key not in kw:
            if interval == "step":
                span = train["steps"] if step_mode else train["epochs"] * steps_per_epoch
            else:
                span = -(-train["steps"] // steps_per_epoch) if step_mode else train["epochs"]
            kw[key] = span
    cls, renames = _SCHED[name]
    kw = {renames.get(k, k): v for k, v in kw.items()}
    if name == "one_cycle" and isinstance(kw.get("max_lr"), list):
        kw["max_lr"] = kw["max_lr"][0]
    return getattr(torch.optim.lr_scheduler, cls)(opt, **kw), interval, monitor


# ---------------------------------------------------------------------------------------------
# One run (train/src/trainer.rs).

_TRAIN_KEYS = {"epochs", "steps", "loss", "label_smoothing", "threads",
               "checkpoint_every_epochs", "checkpoint_every_steps", "accumulate",
               "early_stopping"}


def _evaluate(model, x, y, ls):
    import torch
    import torch.nn.functional as F

    with torch.inference_mode():
        out = model(x)
        loss = F.cross_entropy(out, y, label_smoothing=ls).item()
        acc = (out.argmax(1) == y).sum().item() / len(y)
    return loss, acc


def replay(row: dict, exact_order: bool = False) -> dict:
    """Trains one stored run in PyTorch; returns its final metrics and timing."""
    import torch
    import torch.nn.functional as F

    t0 = time.perf_counter()
    c0 = time.process_time()
    res = {k: row[k] for k in ("study", "key", "problem", "optimizer", "phase", "seed")}
    try:
        cfg = tomllib.loads(row["config"])
        seed = int(cfg.get("seed", row["seed"] or 0))
        train = dict(cfg.get("train", {}))
        extra = set(train) - _TRAIN_KEYS
        if extra or train.get("accumulate", 1) != 1 or train.get("loss", "auto") == "mse":
            raise ValueError(f"[train] settings the replay does not support: "
                             f"{sorted(extra) or train}")
        ls = float(train.get("label_smoothing", 0.0))
        dc = cfg["data"]
        xtr, ytr, xva, yva, xte, yte, shape = prepare(dc, seed)
        torch.manual_seed(seed)
        model, out_shape = build_layers(cfg["model"]["layers"], shape)
        if set(cfg["model"]) - {"layers"}:
            raise ValueError(f"[model] keys the replay does not support: "
                             f"{sorted(set(cfg['model']) - {'layers'})}")
        model.train()
        bs = int(dc.get("batch_size", 64))
        n = len(xtr)
        drop_last = bool(dc.get("drop_last", False))
        nb = n // bs if drop_last else -(-n // bs)
        opt = build_optimizer(cfg["optimizer"], model.parameters())
        sched = build_schedule(cfg.get("schedule"), opt, train, max(nb, 1), xva is not None)
        clip = cfg.get("clip") or {}
        if set(clip) - {"max_norm", "norm_type", "value"}:
            raise ValueError(f"[clip] keys the replay does not support: {sorted(clip)}")
        params = [p for p in model.parameters()]
        shuffle = dc.get("shuffle", True)
        gen = torch.Generator().manual_seed(seed ^ 0x5_4FF1E)
        epochs = train.get("epochs")
        max_steps = train.get("steps")
        es = train.get("early_stopping")
        if es is not None:
            es_monitor = es.get("monitor", "val_loss")
            es_max = es.get("mode", "max" if es_monitor.endswith("accuracy") else "min") == "max"
            es_best, es_wait = None, 0
        step = 0
        epoch = 0
        stop = "completed"
        last = None
        history = []
        while True:
            if epochs is not None and epoch >= epochs:
                break
            if max_steps is not None and step >= max_steps:
                break
            if shuffle:
                if exact_order:
                    perm = torch.tensor(permutation(seed ^ 0x5_4FF1E, epoch, n))
                else:
                    perm = torch.randperm(n, generator=gen)
                xs, ys = xtr[perm], ytr[perm]
            else:
                xs, ys = xtr, ytr
            loss_sum = 0.0
            correct = torch.zeros((), dtype=torch.int64)
            seen = 0
            for b in range(nb):
                xb = xs[b * bs : (b + 1) * bs]
                yb = ys[b * bs : (b + 1) * bs]
                out = model(xb)
                loss = F.cross_entropy(out, yb, label_smoothing=ls)
                lv = loss.item()
                if not math.isfinite(lv):
                    stop = "non_finite"
                    break
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if "max_norm" in clip:
                    torch.nn.utils.clip_grad_norm_(params, clip["max_norm"],
                                                   clip.get("norm_type", 2.0), foreach=True)
                if "value" in clip:
                    torch.nn.utils.clip_grad_value_(params, clip["value"], foreach=True)
                opt.step()
                step += 1
                loss_sum += lv * len(yb)
                correct += (out.argmax(1) == yb).sum()
                seen += len(yb)
                if sched is not None and sched[1] == "step":
                    sched[0].step()
                if max_steps is not None and step >= max_steps:
                    break
            if stop == "non_finite":
                break
            model.eval()
            rec = {"epoch": epoch + 1, "step": step,
                   "train_loss": loss_sum / max(seen, 1),
                   "train_accuracy": correct.item() / max(seen, 1)}
            if xva is not None:
                rec["val_loss"], rec["val_accuracy"] = _evaluate(model, xva, yva, ls)
            rec["test_loss"], rec["test_accuracy"] = _evaluate(model, xte, yte, ls)
            rec["lr"] = opt.param_groups[0]["lr"]
            model.train()
            history.append(rec)
            last = rec
            epoch += 1
            if es is not None:
                v, delta = rec[es_monitor], es.get("min_delta", 0.0)
                if es_best is None or (v > es_best + delta if es_max else v < es_best - delta):
                    es_best, es_wait = v, 0
                else:
                    es_wait += 1
                    if es_wait >= es.get("patience", 5):
                        stop = "early_stopped"
            if sched is not None and sched[1] == "epoch":
                s, _, monitor = sched
                if isinstance(s, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    s.step(rec[monitor])
                else:
                    s.step()
            if stop == "early_stopped":
                break
        res.update(status="done", stop=stop, diverged=stop == "non_finite", steps=step,
                   epochs=epoch, final=last, history=history)
    except Exception as e:  # a run that cannot be replayed is recorded, not fatal
        res.update(status="failed", error=f"{type(e).__name__}: {e}")
    res["wall_s"] = time.perf_counter() - t0
    res["cpu_s"] = time.process_time() - c0
    return res


def _init_worker() -> None:
    import torch  # imported here, not in the first run, so per-run times are training only
    import torch.nn.functional  # noqa: F401

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


def _replay_star(args):
    return replay(*args)


def _torch_version(_=None) -> str:
    import torch

    return torch.__version__


# ---------------------------------------------------------------------------------------------
# The store.


def read_runs(db: str, study: str | None):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    q = ("SELECT study, key, problem, optimizer, phase, trial, seed, params, config, status, "
         "stop, diverged, wall_s FROM runs WHERE status IN ('done', 'failed')")
    args: list = []
    if study:
        q += " AND study = ?"
        args.append(study)
    q += " ORDER BY started_at, key"
    rows = [dict(r) for r in con.execute(q, args)]
    finals: dict = {}
    mq = ("SELECT study, key, epoch, val_accuracy, test_loss, test_accuracy FROM epoch_metrics"
          + (" WHERE study = ?" if study else "") + " ORDER BY epoch")
    for r in con.execute(mq, args):
        finals[(r["study"], r["key"])] = dict(r)
    con.close()
    return rows, finals


def summarize(rows, finals, results):
    """Per problem: runs, mean |Δ final test accuracy| and mean Δ (PyTorch − gradlab) over the
    runs both finished with a test accuracy, and divergence counts."""
    by_key = {(r["study"], r["key"]): r for r in rows}
    per = {}
    for res in results:
        p = per.setdefault(res["problem"], {"runs": 0, "compared": 0, "abs": [], "diff": [],
                                            "gradlab_acc": [], "torch_acc": [],
                                            "gradlab_diverged": 0, "torch_diverged": 0,
                                            "torch_failed": 0, "gradlab_failed": 0,
                                            "gradlab_wall_s": 0.0, "torch_wall_s": 0.0,
                                            "torch_cpu_s": 0.0})
        p["runs"] += 1
        row = by_key[(res["study"], res["key"])]
        p["gradlab_failed"] += row["status"] == "failed"
        p["gradlab_diverged"] += bool(row["diverged"])
        p["gradlab_wall_s"] += row["wall_s"] or 0.0
        p["torch_wall_s"] += res["wall_s"]
        p["torch_cpu_s"] += res["cpu_s"]
        if res["status"] != "done":
            p["torch_failed"] += 1
            continue
        p["torch_diverged"] += res["diverged"]
        g = finals.get((res["study"], res["key"]), {}).get("test_accuracy")
        t = (res.get("final") or {}).get("test_accuracy")
        res["gradlab_test_accuracy"] = g
        if g is not None and t is not None:
            p["compared"] += 1
            p["abs"].append(abs(t - g))
            p["diff"].append(t - g)
            p["gradlab_acc"].append(g)
            p["torch_acc"].append(t)
    out = {}
    for name, p in per.items():
        mean = lambda v: sum(v) / len(v) if v else None  # noqa: E731
        out[name] = {
            "runs": p["runs"], "compared": p["compared"],
            "mean_abs_diff_test_accuracy": mean(p["abs"]),
            "mean_diff_test_accuracy": mean(p["diff"]),
            "median_abs_diff_test_accuracy": (float(np.median(p["abs"])) if p["abs"] else None),
            "mean_test_accuracy_gradlab": mean(p["gradlab_acc"]),
            "mean_test_accuracy_torch": mean(p["torch_acc"]),
            "gradlab_diverged": p["gradlab_diverged"], "torch_diverged": p["torch_diverged"],
            "gradlab_failed": p["gradlab_failed"], "torch_failed": p["torch_failed"],
            "gradlab_run_wall_s": p["gradlab_wall_s"], "torch_run_wall_s": p["torch_wall_s"],
            "torch_run_cpu_s": p["torch_cpu_s"],
        }
    return out


# ---------------------------------------------------------------------------------------------
# --verify: the same run in both, from the same initial weights.


def _save_safetensors(path: str, state: dict) -> None:
    import struct

    header, blobs, off = {}, [], 0
    for name, t in state.items():
        a = t.detach().contiguous().numpy()
        dtype = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}[a.dtype]
        b = a.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def verify(rows, count: int, gradlab: str) -> int:
    """Trains `count` stored runs (one per problem and optimizer first) with `gradlab train` and
    with the replay from the same initial weights (PyTorch's, passed to gradlab as `[model]
    init`) and gradlab's own shuffle order: the curves must agree to float rounding, which shows
    that data, split, standardisation, batching, model, loss, optimizer and schedule are the
    same study. Prints both curves; returns the number of runs whose final test accuracy
    differs by more than 0.01."""
    import subprocess
    import tempfile

    import torch

    _init_worker()
    seen, picked = set(), []
    for r in rows:
        if (r["problem"], r["optimizer"]) not in seen:
            seen.add((r["problem"], r["optimizer"]))
            picked.append(r)
    picked = (picked + [r for r in rows if r not in picked])[:count]
    bad = 0
    with tempfile.TemporaryDirectory(prefix="compare_verify.") as tmp:
        for i, row in enumerate(picked):
            cfg = tomllib.loads(row["config"])
            seed = int(cfg.get("seed", row["seed"] or 0))
            shape = prepare(cfg["data"], seed)[6]
            torch.manual_seed(seed)
            model, _ = build_layers(cfg["model"]["layers"], shape)
            init = os.path.join(tmp, f"{i}.safetensors")
            _save_safetensors(init, model.state_dict())
            path = os.path.join(tmp, f"{i}.toml")
            with open(path, "w") as f:
                f.write(row["config"])
            logdir = os.path.join(tmp, f"run{i}")
            cmd = [gradlab, "train", path, "-q", "--threads", "1",
                   "--set", f"model.init={json.dumps(init)}",
                   "--set", f"log.dir={json.dumps(logdir)}", "--set", "log.tensorboard=false"]
            p = subprocess.run(cmd, capture_output=True, text=True)
            mfile = os.path.join(logdir, "metrics.jsonl")
            g = []
            if os.path.exists(mfile):
                with open(mfile) as f:
                    g = [d for d in map(json.loads, f) if d.get("type") == "epoch"]
            t = replay(row, exact_order=True)
            print(f"{row['problem']} / {row['optimizer']} (key {row['key']}, seed {seed}): "
                  "gradlab | PyTorch")
            if p.returncode != 0 and not g:
                print(f"  gradlab train failed: {p.stderr.strip()[-400:]}")
            if t["status"] != "done":
                print(f"  replay failed: {t['error']}")
            hist = t.get("history") or []
            for ge, te in zip(g, hist):
                print(f"  epoch {ge['epoch']:>3}: train loss {ge['train_loss']:.6f} | "
                      f"{te['train_loss']:.6f}   test loss {ge['test_loss']:.6f} | "
                      f"{te['test_loss']:.6f}   test acc {ge['test_accuracy']:.4f} | "
                      f"{te['test_accuracy']:.4f}")
            ok = (bool(g) and bool(hist) and len(g) == len(hist)
                  and abs(g[-1]["test_accuracy"] - hist[-1]["test_accuracy"]) <= 0.01)
            bad += not ok
            print(f"  {'agree' if ok else 'DIFFER'}: {len(g)} | {len(hist)} epochs")
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("db", help="the study's SQLite store (`gradlab compare --out DIR`: DIR/results.db)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (1 thread each)")
    ap.add_argument("--study", help="only this study (default: every study in the store)")
    ap.add_argument("--limit", type=int, help="only the first N runs (for a quick check)")
    ap.add_argument("--exact-order", action="store_true",
                    help="shuffle each epoch in gradlab's exact order (ChaCha8 in Python: slower)")
    ap.add_argument("--json", help="write the JSON report here ('-': stdout; default: "
                    "torch_replay.json beside the database)")
    ap.add_argument("--verify", type=int, metavar="N",
                    help="instead of timing: train N stored runs with `gradlab train` and in "
                    "PyTorch from the same initial weights and data order, and compare the curves")
    ap.add_argument("--gradlab", default=os.path.join(ROOT, "target", "release", "gradlab"),
                    help="the gradlab binary for --verify (default: target/release/gradlab)")
    args = ap.parse_args()
    if not os.path.isfile(args.db):
        print(f"error: {args.db}: no such file (run `gradlab compare --out DIR` first)",
              file=sys.stderr)
        return 2
    try:
        rows, finals = read_runs(args.db, args.study)
    except sqlite3.Error as e:
        print(f"error: {args.db}: cannot read the runs table: {e}", file=sys.stderr)
        return 2
    if args.limit:
        rows = rows[: args.limit]
    if not rows:
        print(f"error: {args.db}: no done or failed runs"
              + (f" in study {args.study!r}" if args.study else ""), file=sys.stderr)
        return 2
    if args.verify:
        return 1 if verify(rows, args.verify, args.gradlab) else 0
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    jobs = [(r, args.exact_order) for r in rows]
    t0 = time.perf_counter()
    results = []
    with ctx.Pool(args.workers, initializer=_init_worker) as pool:
        for i, res in enumerate(pool.imap_unordered(_replay_star, jobs), 1):
            results.append(res)
            if sys.stderr.isatty():
                print(f"\r{i}/{len(jobs)} runs", end="", file=sys.stderr, flush=True)
        wall = time.perf_counter() - t0
        version = pool.apply(_torch_version)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    per = summarize(rows, finals, results)
    rph = len(results) / wall * 3600.0
    failed = [r for r in results if r["status"] != "done"]
    print(f"PyTorch {version} replay of {args.db}: {len(results)} runs, {args.workers} worker(s) "
          f"x 1 thread")
    cpu = sum(r["cpu_s"] for r in results)
    print(f"wall seconds: {wall:.1f}")
    print(f"CPU seconds in runs: {cpu:.1f} (sum over workers)")
    print(f"runs/hour: {rph:.0f}")
    if failed:
        print(f"replay failures: {len(failed)} (first: {failed[0]['key']}: {failed[0]['error']})")
    print()
    print("| problem | runs | compared | mean test acc gradlab | mean test acc PyTorch | "
          "mean |Δ| | mean Δ (PyTorch − gradlab) | diverged gradlab/PyTorch | "
          "run seconds gradlab/PyTorch |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    fmt = lambda v, p=4: "–" if v is None else f"{v:.{p}f}"  # noqa: E731
    for name, p in sorted(per.items()):
        print(f"| {name} | {p['runs']} | {p['compared']} | {fmt(p['mean_test_accuracy_gradlab'])} "
              f"| {fmt(p['mean_test_accuracy_torch'])} | {fmt(p['mean_abs_diff_test_accuracy'])} "
              f"| {fmt(p['mean_diff_test_accuracy'], 4)} | {p['gradlab_diverged']}/"
              f"{p['torch_diverged']} | {p['gradlab_run_wall_s']:.1f}/{p['torch_run_wall_s']:.1f} |")
    report = {
        "tool": "pytorch", "version": version, "db": os.path.abspath(args.db),
        "workers": args.workers, "threads_per_worker": 1, "runs": len(results),
        "failed": len(failed), "wall_s": wall, "run_cpu_s": cpu, "runs_per_hour": rph, "per_problem": per,
        "per_run": [
            {k: r.get(k) for k in ("study", "key", "problem", "optimizer", "phase", "seed",
                                   "status", "error", "stop", "diverged", "steps", "epochs",
                                   "wall_s", "cpu_s", "gradlab_test_accuracy")}
            | {"test_accuracy": (r.get("final") or {}).get("test_accuracy"),
               "val_accuracy": (r.get("final") or {}).get("val_accuracy"),
               "test_loss": (r.get("final") or {}).get("test_loss")}
            for r in sorted(results, key=lambda r: (r["problem"], r["optimizer"], r["key"]))
        ],
    }
    text = json.dumps(report, indent=1)
    if args.json == "-":
        print(text)
    else:
        path = args.json or os.path.join(os.path.dirname(os.path.abspath(args.db)),
                                         "torch_replay.json")
        with open(path, "w") as f:
            f.write(text + "\n")
        print(f"\nper-run JSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
