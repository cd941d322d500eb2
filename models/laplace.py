"""Subnetwork linearized Laplace (Daxberger et al., ICML 2021) on the digits CNN.

Data: scikit-learn digits (in the wheel); the ``shifted`` split is the test
set rotated by U(-30, 30) degrees and shifted by U(-1, 1) pixels (seeded), a
covariate shift the MAP model is over-confident on.

Method, as laplace-torch's ``SubnetLaplace`` does it:

1. MAP: the trained :mod:`.digits_cnn` network.
2. Subnetwork: the ``S`` parameters of largest marginal variance under a
   diagonal (GGN) Laplace, the ``LargestVarianceDiagLaplace`` mask, searched
   over the last layer's weights and biases (650 parameters).
3. Full-covariance GGN Laplace over the subnetwork, Σ = (Jᵀ Λ J + δ I)⁻¹,
   prior precision δ chosen by the Laplace marginal likelihood on a grid.
4. Linearized predictive with the probit approximation:
   p = softmax(f_MAP(x) / sqrt(1 + π/8 · diag(J(x) Σ J(x)ᵀ))).

Why the last layer: the linearized predictive needs the Jacobian J(x) of
the logits with respect to the subnetwork. For last-layer parameters it is
the feature vector itself, so the whole predictive exports to ONNX as three
MatMuls after the backbone (features -> subnet features -> Σ -> per-class
variance) and runs on the engine. A subnetwork reaching into the convs needs
one Jacobian-vector product per subnet column, which torch's ONNX exporter
does not export; that variant is not built here.

The exported graph has two outputs: ``logits`` (the MAP network) and
``probs`` (the linearized Laplace predictive).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from . import digits
from .digits_cnn import DigitsCNN, export_state_path
from .digits_cnn import train as train_cnn
from .torchkit import export_onnx, save_data, seed_all

NAME = "laplace_digits"
SUBNET = 300
DELTAS = tuple(np.logspace(-3, 3, 25))  #: prior precisions tried (marginal likelihood)


def _features(model: DigitsCNN, x: torch.Tensor) -> torch.Tensor:
    """``[N, D + 1]``: the last layer's input with a constant 1 for the bias."""
    with torch.no_grad():
        phi = model.features(x)
    return torch.cat([phi, torch.ones(len(x), 1)], 1).double()


def _ggn_blocks(phi: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """Full last-layer GGN ``[K*(D+1), K*(D+1)]``: Σ_n Λ_n ⊗ φ_n φ_nᵀ, Λ = diag(p) − p pᵀ."""
    lam = torch.diag_embed(probs) - probs[:, :, None] * probs[:, None, :]
    return torch.einsum("nkl,ni,nj->kilj", lam, phi, phi).reshape(
        probs.shape[1] * phi.shape[1], -1)


def subnet_laplace(model: DigitsCNN, x: torch.Tensor, y: np.ndarray, size: int = SUBNET,
                   deltas=DELTAS) -> tuple[np.ndarray, np.ndarray, float]:
    """``(indices, Σ, δ)``: subnet indices into the flattened ``[W | b]`` (class-major), covariance."""
    phi = _features(model, x)
    with torch.no_grad():
        logits = model(x).double()
    probs = logits.softmax(1)
    ggn = _ggn_blocks(phi, probs)
    diag_var = 1.0 / (torch.diagonal(ggn) + 1.0)  # diagonal Laplace, unit prior precision
    idx = torch.argsort(diag_var, descending=True, stable=True)[:size].sort().values
    h = ggn[idx][:, idx]
    w = torch.cat([model.head.weight, model.head.bias[:, None]], 1).detach().double().reshape(-1)
    theta = w[idx]
    nll = torch.nn.functional.cross_entropy(logits, torch.as_tensor(y),
                                            reduction="sum")
    best = None
    for d in deltas:  # Laplace log marginal likelihood (MacKay), up to constants
        hp = h + d * torch.eye(size, dtype=h.dtype)
        lml = (-nll - 0.5 * d * theta @ theta + 0.5 * size * math.log(d)
               - 0.5 * torch.logdet(hp)).item()
        if best is None or lml > best[0]:
            best = (lml, float(d))
    delta = best[1]
    sigma = torch.linalg.inv(h + delta * torch.eye(size, dtype=h.dtype))
    return idx.numpy(), sigma.numpy(), delta


class LinearizedLaplace(nn.Module):
    """``x -> (logits, probs)``: the MAP CNN and its subnetwork linearized Laplace predictive.

    With ``z = [φ(x), 1] P`` (the subnet's Jacobian entries, ``P`` a 0/1
    selection) and ``C = Σ`` restricted to same-class pairs,
    ``var_k = Σ_{s,t in class k} z_s Σ_st z_t = ((z C) ⊙ z) M`` with ``M`` the
    subnet-to-class membership: three MatMuls.
    """

    def __init__(self, model: DigitsCNN, idx: np.ndarray, sigma: np.ndarray):
        super().__init__()
        self.net = model
        d1 = model.head.in_features + 1
        k = model.head.out_features
        cls, feat = idx // d1, idx % d1
        sel = np.zeros((d1, len(idx)), np.float32)
        sel[feat, np.arange(len(idx))] = 1.0
        same = cls[:, None] == cls[None, :]
        member = np.zeros((len(idx), k), np.float32)
        member[np.arange(len(idx)), cls] = 1.0
        self.register_buffer("sel_w", torch.from_numpy(sel[:-1].copy()))
        self.register_buffer("sel_b", torch.from_numpy(sel[-1].copy()))
        self.register_buffer("cov", torch.from_numpy((sigma * same).astype(np.float32)))
        self.register_buffer("member", torch.from_numpy(member))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        phi = self.net.features(x)
        logits = self.net.head(phi)
        z = phi @ self.sel_w + self.sel_b
        var = ((z @ self.cov) * z) @ self.member
        kappa = torch.rsqrt(1.0 + (math.pi / 8.0) * var.clamp_min(0.0))
        return logits, torch.softmax(logits * kappa, dim=1)


def main() -> None:
    seed_all(0)
    xtr, ytr, xte, yte = digits.split()
    model = DigitsCNN()
    path = export_state_path()
    if path.exists():
        model.load_state_dict(torch.load(path))
    else:
        model = train_cnn()
    model.eval()
    x = torch.from_numpy(xtr)
    idx, sigma, delta = subnet_laplace(model, x, ytr)
    print(f"{NAME}: subnet {len(idx)} of 650 last-layer parameters, prior precision {delta:.3g}")
    la = LinearizedLaplace(model, idx, sigma).eval()
    export_onnx(la, (torch.from_numpy(xte[:4]),), NAME, ["x"], ["logits", "probs"])
    xsh = digits.rotate_shift(xte)
    save_data(NAME, test__x=xte, test__y=yte, shifted__x=xsh, shifted__y=yte, calib__x=xtr[:256])


if __name__ == "__main__":
    main()
