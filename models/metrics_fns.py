"""Metrics on numpy arrays (no torch): accuracy, NLL, ECE, Recall@K, MAE/RMSE."""

from __future__ import annotations

import numpy as np


def softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64) - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    """Share of rows whose arg-max is ``y`` (scores: logits or probabilities)."""
    return float(np.mean(np.argmax(scores, -1) == y))


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true class (probabilities clipped at 1e-12)."""
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None))))


def ece(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error with ``bins`` equal-width confidence bins."""
    conf, pred = probs.max(-1), probs.argmax(-1)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(np.mean(pred[m] == y[m]) - conf[m].mean())
    return float(total)


def recall_at_k(emb: np.ndarray, y: np.ndarray, ks=(1, 2, 4, 8)) -> dict[str, float]:
    """Recall@K by cosine similarity, each item a query against all others (itself excluded)."""
    e = emb.astype(np.float64)
    e = e / np.linalg.norm(e, axis=1, keepdims=True).clip(1e-12)
    sim = e @ e.T
    np.fill_diagonal(sim, -np.inf)
    order = np.argsort(-sim, axis=1, kind="stable")[:, :max(ks)]
    hit = y[order] == y[:, None]
    return {f"recall@{k}": float(np.mean(hit[:, :k].any(1))) for k in ks}


def regression(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    err = pred.reshape(-1).astype(np.float64) - y.reshape(-1)
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2)))}
