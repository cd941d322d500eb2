"""Rotational equilibrium (Kosson et al., ICML 2024, epfml/REQ): control each neuron's angular update.

With weight decay, a scale-invariant neuron's weight vector settles into an
equilibrium where its norm is constant and every step rotates it by an
expected angle that depends only on the optimizer's hyper-parameters
(:func:`equilibrium_rate`). Early in training, and unevenly across layers,
rotation is far from that rate; that transient is one reason warmup helps.
:class:`RotationalWrapper` removes it: for every *rotational* parameter
(weights with ``ndim >= 2``; each output row is a neuron) it

1. keeps the neuron centered (zero mean) and at its initial norm,
2. takes the inner optimizer's update ``u`` (computed without weight decay),
   centers it and projects it orthogonal to the weight,
3. rescales it so the neuron rotates by exactly the equilibrium angle
   ``θ = equilibrium_rate(lr_t, ...)``: ``‖u‖ = tan(θ)·‖w‖``, then
   renormalizes ``w + u`` to the old norm.

(The REQ code RMS-normalizes the update over the layer; fixing each neuron's
angle exactly is the per-neuron form of the same control.) Other parameters
(biases, norms' gains) are updated by the inner optimizer with its weight decay.

Equilibrium angular updates (per step, radians), from the REQ paper:
AdamW ``sqrt(2ηλ(1−β1)/(1+β1))``; SGD with momentum α ``sqrt(2ηλ/(1+α))``;
Lion ``sqrt(π/2)·sqrt(2ηλ)·sqrt((1−β1)² + β1²(1−β2)/(1+β2))``.
"""

from __future__ import annotations

import math

import torch


def equilibrium_rate(kind: str, lr: float, weight_decay: float, betas=(0.9, 0.999),
                     momentum: float = 0.9) -> float:
    """Expected angular update per step at equilibrium (radians) for ``kind`` adamw/sgdm/lion."""
    eta, lam = lr, weight_decay
    if kind == "adamw":
        b1 = betas[0]
        return math.sqrt(2 * eta * lam * (1 - b1) / (1 + b1))
    if kind == "sgdm":
        return math.sqrt(2 * eta * lam / (1 + momentum))
    if kind == "lion":
        b1, b2 = betas
        return math.sqrt(math.pi / 2) * math.sqrt(2 * eta * lam) * math.sqrt(
            (1 - b1) ** 2 + b1 ** 2 * (1 - b2) / (1 + b2))
    raise ValueError(f"optimizer kind must be 'adamw', 'sgdm' or 'lion', not {kind!r}")


class Lion(torch.optim.Optimizer):
    """Lion (Chen et al., 2023): ``w -= lr·(sign(β1 m + (1−β1) g) + λ w)``, ``m = β2 m + (1−β2) g``."""

    def __init__(self, params, lr: float = 1e-4, betas=(0.9, 0.99), weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "betas": betas, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        for g in self.param_groups:
            b1, b2 = g["betas"]
            for p in g["params"]:
                if p.grad is None:
                    continue
                m = self.state[p].setdefault("m", torch.zeros_like(p))
                upd = (b1 * m + (1 - b1) * p.grad).sign()
                p.mul_(1 - g["lr"] * g["weight_decay"]).add_(upd, alpha=-g["lr"])
                m.mul_(b2).add_(p.grad, alpha=1 - b2)


def _rows(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[0], -1)


class RotationalWrapper:
    """An optimizer (AdamW, SGD-momentum or Lion) with rotational equilibrium forced on weights.

    ``lr_at(step) -> lr`` is the schedule (e.g. with warmup); the wrapper sets
    the inner optimizer's lr every step and uses it for the target angle.
    ``angles`` holds, per rotational parameter name, the mean angle of the
    last step (radians).
    """

    def __init__(self, named_params, kind: str = "adamw", lr: float = 1e-3,
                 weight_decay: float = 0.1, betas=(0.9, 0.999), momentum: float = 0.9,
                 lr_at=None):
        self.kind, self.wd, self.betas, self.momentum = kind, weight_decay, betas, momentum
        self.lr_at = lr_at or (lambda step: lr)
        named = [(n, p) for n, p in named_params if p.requires_grad]
        self.rot = [(n, p) for n, p in named if p.ndim >= 2]
        other = [p for _, p in named if p.ndim < 2]
        groups = [{"params": [p for _, p in self.rot], "weight_decay": 0.0}]
        if other:
            groups.append({"params": other, "weight_decay": weight_decay})
        if kind == "adamw":
            self.inner = torch.optim.AdamW(groups, lr=lr, betas=betas)
        elif kind == "sgdm":
            self.inner = torch.optim.SGD(groups, lr=lr, momentum=momentum)
        elif kind == "lion":
            self.inner = Lion(groups, lr=lr, betas=betas)
        else:
            raise ValueError(f"optimizer kind must be 'adamw', 'sgdm' or 'lion', not {kind!r}")
        self.steps = 0
        self.angles: dict[str, float] = {}
        with torch.no_grad():
            for _, p in self.rot:
                r = _rows(p)
                r.sub_(r.mean(1, keepdim=True))

    def zero_grad(self) -> None:
        self.inner.zero_grad()

    def rate(self) -> float:
        return equilibrium_rate(self.kind, self.lr_at(self.steps), self.wd, self.betas,
                                self.momentum)

    @torch.no_grad()
    def step(self) -> None:
        lr = self.lr_at(self.steps)
        for g in self.inner.param_groups:
            g["lr"] = lr
        old = [p.detach().clone() for _, p in self.rot]
        self.inner.step()
        theta = self.rate()
        for (name, p), w in zip(self.rot, old, strict=True):
            wr, u = _rows(w), _rows(p) - _rows(w)
            u = u - u.mean(1, keepdim=True)
            norm = wr.norm(dim=1, keepdim=True)
            wh = wr / norm.clamp_min(1e-12)
            u = u - (u * wh).sum(1, keepdim=True) * wh
            un = u.norm(dim=1, keepdim=True)
            u = torch.where(un > 0, u / un.clamp_min(1e-30) * math.tan(theta) * norm,
                            torch.zeros_like(u))
            new = wr + u
            new = new / new.norm(dim=1, keepdim=True).clamp_min(1e-12) * norm
            p.copy_(new.reshape(p.shape))
            self.angles[name] = float(angle(wr, new).mean())
        self.steps += 1


def angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-row angle (radians) between the rows of ``a`` and ``b``."""
    a, b = _rows(a).double(), _rows(b).double()
    cos = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-300)
    return torch.arccos(cos.clamp(-1.0, 1.0))
