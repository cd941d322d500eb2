"""BIER: boosted independent embeddings for metric learning (Opitz et al., ICCV 2017), on digits.

Data: scikit-learn digits (in the wheel). Training uses every image of
classes 0-4; retrieval is evaluated on every image of classes 5-9 (unseen
classes, zero-shot as in the paper's CUB/Cars protocol), Recall@1/2/4/8 by
cosine similarity with each image a query against all others.

Following mop/bier: one shared backbone (here the 3x3-conv digits CNN body),
one linear embedding layer split into learners of sizes 16/32/48; each
learner is trained with the binomial deviance on cosine similarity
(α = 2, β = 0.5, C = 25 for negatives, positives and negatives each
normalized), and online gradient boosting: learner m's pair weights are the
negative gradient of the loss at the shrunk running score
``S_m = (1 − η) S_{m−1} + η s_m`` (η = 0.06) of the learners before it.
BIER's extra decorrelation (adversarial) loss and its initialization method
are not used. At evaluation each sub-embedding is L2-normalized, weighted by
its share of the total size and concatenated: that is the ONNX output
``embedding [N, 96]``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from . import digits
from .digits_cnn import DigitsCNN
from .torchkit import export_onnx, save_data, seed_all

NAME = "bier_digits"
SIZES = (16, 32, 48)
ALPHA, BETA, COST, SHRINK = 2.0, 0.5, 25.0, 0.06


class BIER(nn.Module):
    """``x [N, 1, 8, 8] -> embedding [N, sum(SIZES)]`` (normalized, size-weighted learners)."""

    def __init__(self, sizes=SIZES):
        super().__init__()
        self.sizes = tuple(sizes)
        self.backbone = DigitsCNN()  # its head is unused
        self.embed = nn.Linear(self.backbone.head.in_features, sum(self.sizes))

    def learners(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each learner's L2-normalized embedding."""
        e = self.embed(self.backbone.features(x))
        return [nn.functional.normalize(p, dim=1) for p in torch.split(e, self.sizes, dim=1)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = sum(self.sizes)
        return torch.cat([p * (d / total) for p, d in zip(self.learners(x), self.sizes,
                                                            strict=True)], 1)


def binomial_deviance(s: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Per-pair loss ``log(1 + exp(−α (s − β) m))``, ``m = 1`` (positive) or ``−C`` (negative)."""
    m = torch.where(pos, torch.ones_like(s), torch.full_like(s, -COST))
    return nn.functional.softplus(-ALPHA * (s - BETA) * m)


def bier_loss(parts: list[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
    """Sum over learners of boosting-weighted binomial deviance on all pairs of the batch."""
    n = len(y)
    pos = y[:, None] == y[None, :]
    off = ~torch.eye(n, dtype=torch.bool)
    pos, neg = pos & off, ~pos & off
    acc = torch.zeros(n, n)
    weights = torch.ones(n, n)
    total = torch.zeros(())
    for p in parts:
        s = p @ p.T
        loss = binomial_deviance(s, pos) * weights
        total = total + loss[pos].sum() / pos.sum() + loss[neg].sum() / neg.sum()
        with torch.no_grad():  # next learner: negative gradient of the loss at the running score
            acc = (1 - SHRINK) * acc + SHRINK * s
            m = torch.where(pos, torch.ones_like(acc), torch.full_like(acc, -COST))
            z = -ALPHA * (acc - BETA) * m
            weights = torch.sigmoid(z) * ALPHA * m.abs()  # |dℓ/ds| at the running score
            weights = weights / weights[pos | neg].mean()
    return total


def batches(y: np.ndarray, classes: int, per_class: int, steps: int, rng: np.random.Generator):
    """Index batches of ``classes`` x ``per_class`` images (P x K sampling)."""
    labels = np.unique(y)
    by = {c: np.flatnonzero(y == c) for c in labels}
    for _ in range(steps):
        cs = rng.choice(labels, classes, replace=False)
        yield np.concatenate([rng.choice(by[c], per_class, replace=False) for c in cs])


def train(seed: int = 0, steps: int = 800, lr: float = 2e-3) -> BIER:
    seed_all(seed)
    rng = np.random.default_rng(seed)
    x, y = digits.load()
    keep = y < 5
    xt, yt = torch.from_numpy(x[keep]), torch.from_numpy(y[keep])
    model = BIER()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model.train()
    for idx in batches(y[keep], 5, 12, steps, rng):
        loss = bier_loss(model.learners(xt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval()


def main() -> None:
    model = train()
    x, y = digits.load()
    test, train_ = y >= 5, y < 5
    export_onnx(model, (torch.from_numpy(x[test][:4]),), NAME, ["x"], ["embedding"])
    calib = np.random.default_rng(0).permutation(np.flatnonzero(train_))[:256]
    save_data(NAME, test__x=x[test], test__y=y[test], calib__x=x[calib])
    from .metrics_fns import recall_at_k

    with torch.no_grad():
        print(f"{NAME}: torch", recall_at_k(model(torch.from_numpy(x[test])).numpy(), y[test]))


if __name__ == "__main__":
    main()
