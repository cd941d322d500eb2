"""The golden model: bit-exactly what the engine computes, vectorized.

Conv mode (ONNX ``ConvInteger`` semantics, 3x3 kernel, stride 1, dilation 1,
group 1, any padding)::

    y[n, k, i, j] = sum_{c, a, b} (x[n, c, i+a-pt, j+b-pl] - x_zp) * (w[k, c, a, b] - w_zp[k])

where padded positions contribute 0 (padding with the zero point). The
computation goes the engine's way, through F(2x2, 3x3) in integers: input
tiles ``V = Bᵀ d B``, cached weight transforms ``U = (2G) g (2G)ᵀ``, per-position
sums ``M = Σ_c U ⊙ V``, ``Y = Aᵀ M A / 4``.

GEMM mode (``MatMulInteger`` semantics): ``(a - a_zp) @ (b - b_zp)`` in int32.

Exactness: the arithmetic runs in float64 through BLAS. Every operand and
every partial sum is an integer of magnitude far below 2**53 (checked against
the exact width analysis before computing), so float64 represents them
exactly and the result equals the integer computation bit for bit. Results
are int32, and inputs whose worst case could leave int32 are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import WinnowOverflowError, WinnowParameterError
from .transforms import F2x2_3x3, IntegerWinograd

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
_EXACT_F64 = 1 << 53

#: Range of ``w - w_zero_point`` the engine's weight transform is sized for.
WEIGHT_RANGE = (-128, 127)


def _int8_tensor(name: str, a, ndim: int | None = None) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype not in (np.int8, np.uint8):
        raise WinnowParameterError(f"{name} must be int8 or uint8, not {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise WinnowParameterError(f"{name} must be {ndim}-D, got shape {a.shape}")
    return a


def _zero_point(name: str, zp, dtype, length: int | None = None) -> np.ndarray:
    """A zero point as int64: scalar, or 1-D of ``length`` (per channel) when allowed."""
    z = np.asarray(0 if zp is None else zp)
    if z.dtype.kind not in "iu":
        raise WinnowParameterError(f"{name} must be an integer, not {z.dtype}")
    if z.size == 1:
        z = z.reshape(())
    elif length is None or z.shape != (length,):
        allowed = "a scalar" if length is None else f"a scalar or shape ({length},)"
        raise WinnowParameterError(f"{name} must be {allowed}, got shape {z.shape}")
    info = np.iinfo(dtype)
    if z.min() < info.min or z.max() > info.max:
        raise WinnowParameterError(f"{name} {z.tolist()} outside the range of {np.dtype(dtype)}")
    return z.astype(np.int64)


def _pads(pads) -> tuple[int, int, int, int]:
    """ONNX order ``(top, left, bottom, right)``."""
    p = tuple(int(v) for v in pads)
    if len(p) != 4 or any(v < 0 for v in p):
        raise WinnowParameterError(
            f"pads must be four non-negative integers (top, left, bottom, right), not {pads!r}")
    return p


@dataclass(frozen=True)
class PreparedWeights:
    """Weights transformed once: ``U[p, k, c]`` (float64, exact integers), ``p`` = tile position."""

    u: np.ndarray  # (n*n, K, C) float64
    k: int
    c: int
    wino: IntegerWinograd
    max_product: int  # largest |w - w_zp| (for overflow checks)


def prepare_weights(w, w_zero_point=None, wino: IntegerWinograd = F2x2_3x3) -> PreparedWeights:
    """Transform ``w[K, C, 3, 3]`` (int8/uint8) once for :func:`conv2d_prepared`."""
    w = _int8_tensor("w", w, 4)
    k, c, kh, kw = w.shape
    if (kh, kw) != (wino.r, wino.r):
        raise WinnowParameterError(
            f"kernel must be {wino.r}x{wino.r} for F({wino.m}x{wino.m},{wino.r}x{wino.r}), "
            f"got {kh}x{kw}")
    if k < 1 or c < 1:
        raise WinnowParameterError(f"w must have K >= 1 and C >= 1, got shape {w.shape}")
    zp = _zero_point("w_zero_point", w_zero_point, w.dtype, k)
    g = w.astype(np.int64) - (zp[:, None, None, None] if zp.ndim else zp)
    lo, hi = int(g.min()), int(g.max())
    if lo < WEIGHT_RANGE[0] or hi > WEIGHT_RANGE[1]:
        raise WinnowOverflowError(
            f"w - w_zero_point spans [{lo}, {hi}]; the engine's weight transform is sized for "
            f"{list(WEIGHT_RANGE)} (symmetric int8 weights, or uint8 with zero point 128)")
    u = wino.G @ g @ wino.G.T  # (K, C, n, n), exact int64
    n2 = wino.n * wino.n
    u = np.ascontiguousarray(u.reshape(k, c, n2).transpose(2, 0, 1), dtype=np.float64)
    return PreparedWeights(u, k, c, wino, max(-lo, hi))


def output_shape(h: int, w: int, pads, r: int = 3) -> tuple[int, int]:
    pt, pl, pb, pr = _pads(pads)
    return h + pt + pb - r + 1, w + pl + pr - r + 1


def conv2d_prepared(x, pw: PreparedWeights, x_zero_point=None, pads=(0, 0, 0, 0)) -> np.ndarray:
    """``ConvInteger`` of ``x[N, C, H, W]`` with prepared weights -> int32 ``[N, K, Ho, Wo]``."""
    x = _int8_tensor("x", x, 4)
    nb, c, h, w = x.shape
    if c != pw.c:
        raise WinnowParameterError(f"x has C={c} channels but the weights expect C={pw.c}")
    if nb < 1 or h < 1 or w < 1:
        raise WinnowParameterError(f"x must have N, H, W >= 1, got shape {x.shape}")
    zp = int(_zero_point("x_zero_point", x_zero_point, x.dtype))
    pt, pl, pb, pr = _pads(pads)
    wino = pw.wino
    m, n, r = wino.m, wino.n, wino.r
    ho, wo = output_shape(h, w, (pt, pl, pb, pr), r)
    if ho < 1 or wo < 1:
        raise WinnowParameterError(
            f"input {h}x{w} with pads {(pt, pl, pb, pr)} is smaller than the {r}x{r} kernel")
    dmax = max(abs(np.iinfo(x.dtype).min - zp), abs(np.iinfo(x.dtype).max - zp))
    worst = c * r * r * dmax * pw.max_product
    if worst > INT32_MAX:
        raise WinnowOverflowError(
            f"C={c} with |x - zp| <= {dmax} and |w - zp| <= {pw.max_product} can reach {worst}, "
            f"beyond int32; split the input channels (at most "
            f"{INT32_MAX // (r * r * dmax * max(pw.max_product, 1))} per pass)")

    th, tw = -(-ho // m), -(-wo // m)
    hp, wp = m * th + r - 1, m * tw + r - 1
    # Padded, zero-point-subtracted input in (C, N, Hp, Wp) order: GEMM-ready after transform.
    d = np.zeros((c, nb, hp, wp), dtype=np.float64)
    d[:, :, pt:pt + h, pl:pl + w] = x.transpose(1, 0, 2, 3)
    if zp:
        d[:, :, pt:pt + h, pl:pl + w] -= zp

    bt = wino.BT
    t = nb * th * tw
    # Row pass: rows[a] = sum_k BT[a, k] d[.., m*i + k, :]
    rows = np.empty((n, c, nb, th, wp), dtype=np.float64)
    for a in range(n):
        _combine(rows[a], bt[a], [d[:, :, k:k + m * th:m, :] for k in range(n)])
    v = np.empty((n, n, c, nb, th, tw), dtype=np.float64)
    for a in range(n):
        for b in range(n):
            _combine(v[a, b], bt[b], [rows[a][..., l:l + m * tw:m] for l in range(n)])
    mm = np.matmul(pw.u, v.reshape(n * n, c, t))  # (n*n, K, T), exact
    mm = mm.reshape(n, n, pw.k, t)
    at = wino.AT
    z = np.empty((m, n, pw.k, t), dtype=np.float64)
    for i in range(m):
        for b in range(n):
            _combine(z[i, b], at[i], [mm[a, b] for a in range(n)])
    y = np.empty((pw.k, nb, th, m, tw, m), dtype=np.float64)
    for i in range(m):
        for j in range(m):
            _combine(y[:, :, :, i, :, j], at[j],
                     [z[i, b].reshape(pw.k, nb, th, tw) for b in range(n)])
    y = y.reshape(pw.k, nb, th * m, tw * m)[:, :, :ho, :wo]
    y = y / wino.divisor  # exact: y is a multiple of the divisor (and a power of two for 2x2)
    return y.transpose(1, 0, 2, 3).astype(np.int32)


def _combine(out: np.ndarray, coef, terms) -> None:
    """``out = sum_k coef[k] * terms[k]`` with integer coefficients, skipping zeros."""
    first = True
    for cf, tm in zip(coef.tolist(), terms, strict=True):
        if cf == 0:
            continue
        if first:
            if cf == 1:
                out[...] = tm
            elif cf == -1:
                np.negative(tm, out=out)
            else:
                np.multiply(tm, cf, out=out)
            first = False
        elif cf == 1:
            out += tm
        elif cf == -1:
            out -= tm
        else:
            out += cf * tm
    if first:
        out[...] = 0


def conv2d(x, w, x_zero_point=None, w_zero_point=None, pads=(0, 0, 0, 0),
           wino: IntegerWinograd = F2x2_3x3) -> np.ndarray:
    """``ConvInteger(x, w, x_zp, w_zp)`` for a 3x3 stride-1 kernel, exactly as the engine does it."""
    return conv2d_prepared(x, prepare_weights(w, w_zero_point, wino), x_zero_point, pads)


def gemm(a, b, a_zero_point=None, b_zero_point=None) -> np.ndarray:
    """GEMM mode, ``MatMulInteger`` semantics: ``(a - a_zp) @ (b - b_zp)`` as int32.

    ``a[..., M, K]`` and ``b[..., K, N]`` broadcast like ``numpy.matmul``;
    ``b_zero_point`` may be per column (shape ``(N,)``).
    """
    a = _int8_tensor("a", a)
    b = _int8_tensor("b", b)
    if a.ndim < 2 or b.ndim < 2:
        raise WinnowParameterError(f"gemm needs 2-D or batched operands, got {a.shape} @ {b.shape}")
    if a.shape[-1] != b.shape[-2]:
        raise WinnowParameterError(f"inner dimensions differ: {a.shape} @ {b.shape}")
    za = _zero_point("a_zero_point", a_zero_point, a.dtype)
    zb = _zero_point("b_zero_point", b_zero_point, b.dtype, b.shape[-1])
    kd = a.shape[-1]
    amax = max(abs(int(np.iinfo(a.dtype).min - za)), abs(int(np.iinfo(a.dtype).max - za)))
    bmax = int(np.max(np.abs(np.array([np.iinfo(b.dtype).min, np.iinfo(b.dtype).max])[:, None]
                             - np.atleast_1d(zb)[None, :])))
    if kd * amax * bmax > INT32_MAX:
        raise WinnowOverflowError(
            f"inner dimension {kd} with |a - zp| <= {amax}, |b - zp| <= {bmax} can overflow int32;"
            f" at most {INT32_MAX // max(amax * bmax, 1)} per pass")
    af = a.astype(np.float64) - za
    bf = b.astype(np.float64) - zb
    return np.matmul(af, bf).astype(np.int32)
