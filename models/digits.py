"""scikit-learn's digits (1797 8x8 grey images, values 0..16, shipped in the wheel) and shifts of it.

* :func:`split`: a stratified 80/20 split (seed 0): 1437 train, 360 test,
  images scaled to [0, 1] as ``float32 [N, 1, 8, 8]``.
* :func:`rotate_shift`: the test images rotated by a random angle in
  [-30, 30] degrees and shifted by up to one pixel (seeded; bilinear,
  zero fill): a covariate-shifted test set.
"""

from __future__ import annotations

import numpy as np


def load() -> tuple[np.ndarray, np.ndarray]:
    """All digits: ``x float32 [1797, 1, 8, 8]`` in [0, 1], ``y int64 [1797]``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images[:, None] / 16.0).astype(np.float32), d.target.astype(np.int64)


def split(seed: int = 0):
    """``(x_train, y_train, x_test, y_test)``: stratified, 20% test."""
    from sklearn.model_selection import train_test_split

    x, y = load()
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    return xtr, ytr, xte, yte


def rotate_shift(x: np.ndarray, seed: int = 1, max_deg: float = 30.0,
                 max_shift: float = 1.0) -> np.ndarray:
    """``x`` (``[N, 1, 8, 8]``) rotated by U(-max_deg, max_deg) and shifted by U(-s, s) pixels."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    out = np.empty_like(x)
    for i, img in enumerate(x[:, 0]):
        r = ndimage.rotate(img, rng.uniform(-max_deg, max_deg), reshape=False, order=1)
        out[i, 0] = ndimage.shift(r, rng.uniform(-max_shift, max_shift, 2), order=1)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
