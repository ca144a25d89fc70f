#!/usr/bin/env python3
"""How many Hutchinson samples the trace of a batch-norm model's Hessian needs, in PyTorch f64.

    /work/torch-ref/bin/python diagnose/tests/curvature/bn_trace_variance.py

For the engine's references with batch norm in training mode (`train/tests/hvp/gen_hvp.py`:
mlp_relu_bn, cnn_bn, residual, mse_conv1d; same weights and batch), with H the exact Hessian:

* One Rademacher sample zᵀHz has variance 2·Σ_{i≠j} H_ij²: its standard deviation relative to
  the trace says how many samples a 2.5% standard error needs, (sd / 0.025)².
* Hutch++ takes the dominant eigen-directions exactly; deflating the top k = 8 (what 16 of the
  full preset's products could sketch at best) and sampling the rest bounds what it can gain.
* A control variate: H_f, the Hessian with each batch norm's batch statistics held constant
  (the same forward values; an affine per-channel map whose exact diagonal second-order
  backpropagation could give), so tr H = tr H_f + tr(H − H_f) with only the difference sampled.

Measured 2026-12-05 (printed by this script; nothing in the tests depends on it):
  mlp_relu_bn  n=1282  tr H=14.77  per-sample sd/tr: H 1.09, deflated 0.96; H−H_f 0.79, deflated 0.61
  cnn_bn       n=352   tr H=1.235  per-sample sd/tr: H 3.03, deflated 2.29; H−H_f 8.55, deflated 2.53
  residual     n=1758  tr H=16.35  per-sample sd/tr: H 1.17, deflated 0.97; H−H_f 0.91, deflated 0.57
  mse_conv1d   n=83    tr H=12.3   per-sample sd/tr: H 1.00, deflated 0.23; H−H_f 1.79, deflated 0.25
So plain sampling needs ~1,900–14,700 samples for a 2.5% standard error on the first three (more
products than the models have parameters: the exact trace, one product per parameter, would be
cheaper); deflating 8 directions leaves 0.96–2.3 (the doctor's 20-vector Lanczos sketch measured
~170–3,800 samples, `exact_curvature.rs`); and the frozen-statistics control variate does not
shrink the spread: the coupling through the batch statistics is not a small correction.
"""
import copy
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "train", "tests", "hvp"))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import gen_hvp as G  # noqa: E402


class FrozenBN(nn.Module):
    """Batch norm with this batch's statistics held constant: same output, affine in x."""

    def __init__(self, bn):
        super().__init__()
        self.bn = bn

    def forward(self, x):
        dims = [0] + list(range(2, x.dim()))
        mu = x.mean(dims, keepdim=True).detach()
        var = x.var(dims, unbiased=False, keepdim=True).detach()
        shape = [1, -1] + [1] * (x.dim() - 2)
        w, b = self.bn.weight.view(shape), self.bn.bias.view(shape)
        return w * (x - mu) / torch.sqrt(var + self.bn.eps) + b


def freeze(m):
    for name, c in m.named_children():
        if isinstance(c, (nn.BatchNorm1d, nn.BatchNorm2d)):
            setattr(m, name, FrozenBN(c))
        else:
            freeze(c)


def rel_sd(h, trace):
    off = h - torch.diag(torch.diag(h))
    return (2 * (off**2).sum()).sqrt().item() / abs(trace)


def deflated(h, k):
    w, v = torch.linalg.eigh(h)
    q = v[:, torch.argsort(w.abs(), descending=True)[:k]]
    p = torch.eye(h.shape[0], dtype=h.dtype) - q @ q.T
    return p @ h @ p


def main():
    for name, fn, data, loss, seed, _steps in G.CASES:
        if name not in ("mlp_relu_bn", "cnn_bn", "residual", "mse_conv1d"):
            continue
        torch.manual_seed(seed)
        layers, _ = fn()
        model = nn.Sequential(*layers)
        if isinstance(data, str):
            x_all, y_all = G.load(data)
            x, t = x_all[: G.BATCH], y_all[: G.BATCH]
        else:
            gen = torch.Generator().manual_seed(1000 + seed)
            _, shape, od = data
            x = torch.randn((G.BATCH,) + shape, generator=gen).float()
            t = torch.randn((G.BATCH, od), generator=gen).float()
        t64 = t if loss != "mse" else t.double()
        m64 = copy.deepcopy(model).double().train()
        _, _, h, _ = G.hessian(m64, x.double(), t64, loss)
        mf = copy.deepcopy(model).double()
        freeze(mf)
        mf.train()
        _, _, hf, _ = G.hessian(mf, x.double(), t64, loss)
        tr = torch.trace(h).item()
        d = h - hf
        print(
            f"  {name:<12} n={h.shape[0]:<5} tr H={tr:.4g}  per-sample sd/tr: "
            f"H {rel_sd(h, tr):.2f}, deflated {rel_sd(deflated(h, 8), tr):.2f}; "
            f"H−H_f {rel_sd(d, tr):.2f}, deflated {rel_sd(deflated(d, 8), tr):.2f}"
        )


if __name__ == "__main__":
    main()
