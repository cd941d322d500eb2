"""The golden model: bit-exactly what the engine computes, vectorized.

Conv mode (ONNX ``ConvInteger`` semantics, 3x3 kernel, stride 1, dilation 1,
group 1, any padding)::

    y[n, k, i, j] = sum_{c, a, b} (x[n, c, i+a-pt, j+b-pl] - x_zp) * (w[k, c, a, b] - w_zp[k])

where padded positions contribute 0 (padding with the zero point).

The engine computes this through F(2x2, 3x3) in integers: input tiles
``V = Bᵀ d B``, cached weight transforms ``U = (2G) g (2G)ᵀ``, per-position sums
``M = Σ_c U ⊙ V``, ``Y = Aᵀ M A / 4``. This emulator can run exactly that
algorithm (``wino=F2x2_3x3``), but **by default it may compute through
F(4x4, 3x3) internally** (``U = (24G) g (24G)ᵀ``, 36 positions per 4x4 output
tile, ``Y = Aᵀ M A / 576``), because that needs 2.25 instead of 4 multiplies
per output and is much faster on a CPU. Every Winograd form here is an exact
integer identity for the same correlation, so the int32 results are
identical whichever algorithm runs; only the intermediate values differ (the
engine's intermediate widths are those of F(2x2, 3x3), see
:mod:`winnow.hls.widths`). The default (``wino=None``, "auto") picks, per
call, F(4x4, 3x3) or F(2x2, 3x3) by a simple cost model (tile count, GEMM
size, weight-transform size); pass ``wino=F2x2_3x3`` to force the engine's
algorithm.

GEMM mode (``MatMulInteger`` semantics): ``(a - a_zp) @ (b - b_zp)`` in int32.

Exactness: the heavy arithmetic runs through BLAS in float64; the input
transform runs in float32 only where every value and partial sum stays below
2**24 (checked per call from the input range), otherwise in float64. Every
operand and every partial sum is an integer of magnitude below 2**53
(checked per call from the worst case, before computing), so floating point
represents them exactly and the result equals the integer computation bit for
bit. The final division by ``scale²`` is a correctly rounded division of an
exact multiple, hence exact. Results are int32, and inputs whose worst case
could leave int32 are refused.

Performance notes: data is laid out channels-last (tiles × channels) so that
every transform is one batched GEMM with a 4x4 or 6x6 (or 16x36 for the
output) constant matrix, the per-position products are one batched float64
GEMM, and all work buffers are kept per thread and per shape and reused
(fresh large temporaries cost page faults).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .errors import WinnowOverflowError, WinnowParameterError
from .transforms import F2x2_3x3, F4x4_3x3, IntegerWinograd

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
_EXACT_F64 = 1 << 53
_EXACT_F32 = 1 << 24

#: Range of ``w - w_zero_point`` the engine's weight transform is sized for.
WEIGHT_RANGE = (-128, 127)

#: ``wino=None`` (the default) lets the emulator choose per call among these.
AUTO_CANDIDATES: tuple[IntegerWinograd, ...] = (F4x4_3x3, F2x2_3x3)


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


def _abs_row_sum(a: np.ndarray) -> int:
    """Largest row sum of ``|a|``: the gain of one 1-D transform pass on bounded data."""
    return int(np.abs(a).sum(axis=1).max())


def _transform_weights(g: np.ndarray, wino: IntegerWinograd) -> np.ndarray:
    """``U = G g Gᵀ`` for centered weights ``g[K, C, r, r]`` -> float64 ``[n*n, C, K]``.

    Position ``p = a*n + b``; the layout is ready for ``V[p] (T, C) @ U[p] (C, K)``.
    Computed in float64, exact: |values| <= 128 * (row sum of |G|)**2, far below 2**53.
    """
    gm = wino.G.astype(np.float64)
    u = np.matmul(np.matmul(gm, g.astype(np.float64)), gm.T)  # (K, C, n, n)
    k, c, n = g.shape[0], g.shape[1], wino.n
    return np.ascontiguousarray(u.reshape(k, c, n * n).transpose(2, 1, 0))


@dataclass(frozen=True)
class PreparedWeights:
    """Weights transformed once for :func:`conv2d_prepared`.

    ``u[p, c, k]`` (float64, exact integers) is ``U = G g Gᵀ`` of ``wino`` at tile
    position ``p = a*n + b``. With ``auto`` (``prepare_weights(..., wino=None)``)
    the emulator may also use the other algorithms of :data:`AUTO_CANDIDATES`;
    their transforms are made on first use and kept here.
    """

    u: np.ndarray  # (n*n, C, K) float64
    k: int
    c: int
    wino: IntegerWinograd
    max_product: int  # largest |w - w_zp| (for overflow checks)
    auto: bool = False
    g: np.ndarray | None = field(default=None, repr=False, compare=False)  # w - w_zp, int16
    _other: dict = field(default_factory=dict, repr=False, compare=False)

    def u_for(self, wino: IntegerWinograd) -> np.ndarray:
        """``u`` for ``wino``: this one's, or (auto only) another algorithm's, made once."""
        if wino is self.wino:
            return self.u
        if not self.auto or self.g is None:
            raise WinnowParameterError(
                f"these weights were prepared for F({self.wino.m}x{self.wino.m},3x3) only")
        key = (wino.m, wino.r)
        u = self._other.get(key)
        if u is None:
            u = self._other[key] = _transform_weights(self.g, wino)
        return u


def prepare_weights(w, w_zero_point=None,
                    wino: IntegerWinograd | None = None) -> PreparedWeights:
    """Transform ``w[K, C, 3, 3]`` (int8/uint8) once for :func:`conv2d_prepared`.

    ``wino=None`` (default): the emulator picks its algorithm per call (see the
    module docstring); ``wino=F2x2_3x3`` is the engine's own algorithm.
    """
    auto = wino is None
    if auto:
        wino = AUTO_CANDIDATES[0]
    w = _int8_tensor("w", w, 4)
    k, c, kh, kw = w.shape
    if (kh, kw) != (wino.r, wino.r):
        raise WinnowParameterError(
            f"kernel must be {wino.r}x{wino.r} for F({wino.m}x{wino.m},{wino.r}x{wino.r}), "
            f"got {kh}x{kw}")
    if k < 1 or c < 1:
        raise WinnowParameterError(f"w must have K >= 1 and C >= 1, got shape {w.shape}")
    zp = _zero_point("w_zero_point", w_zero_point, w.dtype, k)
    g = w.astype(np.int16) - (zp[:, None, None, None] if zp.ndim else zp).astype(np.int16)
    lo, hi = int(g.min()), int(g.max())
    if lo < WEIGHT_RANGE[0] or hi > WEIGHT_RANGE[1]:
        raise WinnowOverflowError(
            f"w - w_zero_point spans [{lo}, {hi}]; the engine's weight transform is sized for "
            f"{list(WEIGHT_RANGE)} (symmetric int8 weights, or uint8 with zero point 128)")
    return PreparedWeights(_transform_weights(g, wino), k, c, wino, max(-lo, hi),
                           auto=auto, g=g if auto else None)


def output_shape(h: int, w: int, pads, r: int = 3) -> tuple[int, int]:
    pt, pl, pb, pr = _pads(pads)
    return h + pt + pb - r + 1, w + pl + pr - r + 1


def choose_wino(k: int, c: int, nb: int, ho: int, wo: int,
                candidates: tuple[IntegerWinograd, ...] = AUTO_CANDIDATES) -> IntegerWinograd:
    """The cheapest algorithm for one conv by a rough CPU cost model (speed only, never results).

    Cost in flop-equivalents: the position GEMMs ``2·P·K·C·T``, streaming the
    float64 weight transform ``~38·P·K·C`` (memory bound), and the transforms
    ``~130·P·T·(C+K)``; ``P = n²`` positions, ``T`` tiles (partial tiles count whole).
    """
    def cost(wn: IntegerWinograd) -> float:
        p = wn.n * wn.n
        t = nb * (-(-ho // wn.m)) * (-(-wo // wn.m))
        return 2.0 * p * k * c * t + 38.0 * p * k * c + 130.0 * p * t * (c + k)
    return min(candidates, key=cost)


class _Plan:
    """Constant matrices and reusable work buffers for one (shape, pads, algorithm)."""

    def __init__(self, wino: IntegerWinograd, nb: int, c: int, k: int, h: int, w: int,
                 pads: tuple[int, int, int, int], tdtype) -> None:
        m, n, r = wino.m, wino.n, wino.r
        pt, pl, pb, pr = pads
        ho, wo = h + pt + pb - r + 1, w + pl + pr - r + 1
        th, tw = -(-ho // m), -(-wo // m)
        hp, wp = m * (th - 1) + n, m * (tw - 1) + n
        t = nb * th * tw
        self.m, self.n, self.ho, self.wo, self.th, self.tw = m, n, ho, wo, th, tw
        self.divisor = float(wino.divisor)
        self.bt = wino.BT.astype(tdtype)
        self.kat = np.kron(wino.AT, wino.AT).astype(np.float64)  # [(i, j), (a, b)]
        # A power-of-two divisor folds into the output transform exactly (binary scaling).
        self.fold = wino.divisor & (wino.divisor - 1) == 0
        if self.fold:
            self.kat /= self.divisor
        # Padded, zero-point-subtracted input, channels last; borders stay 0 forever.
        self.d = np.zeros((nb, hp, wp, c), dtype=tdtype)
        self.d_in = self.d[:, pt:pt + h, pl:pl + w, :]
        s = self.d.strides
        # Row pass: rows[nb, i, a, :] = sum_k BT[a, k] d[nb, m*i + k, :]   (one batched GEMM)
        self.d_rows = as_strided(self.d, (nb, th, n, wp * c), (s[0], m * s[1], s[1], s[3]))
        self.rows = np.empty((nb, th, n, wp * c), dtype=tdtype)
        q = self.rows.reshape(nb, th, n, wp, c).strides
        # Gather: cols[a, l, nb, i, j, c] = rows[nb, i, a, m*j + l, c]
        self.rows_g = as_strided(self.rows, (n, n, nb, th, tw, c),
                                 (q[2], q[3], q[0], q[1], m * q[3], q[4]))
        self.cols = np.empty((n, n, nb, th, tw, c), dtype=tdtype)
        self.cols3 = self.cols.reshape(n, n, t * c)
        # Column pass: v[a, b, :] = sum_l BT[b, l] cols[a, l, :]   (one batched GEMM)
        if tdtype == np.float64:
            self.v32 = None
            self.v = np.empty((n, n, t * c), dtype=np.float64)
        else:
            self.v32 = np.empty((n, n, t * c), dtype=tdtype)
            self.v = np.empty((n, n, t * c), dtype=np.float64)
        self.vg = self.v.reshape(n * n, t, c)
        self.mm = np.empty((n * n, t, k), dtype=np.float64)
        self.y = np.empty((m * m, t * k), dtype=np.float64)
        # y[i, j, nb, ti, tj, k] -> out[nb, k, m*ti + i, m*tj + j]
        self.y6 = self.y.reshape(m, m, nb, th, tw, k)

    def run(self, x: np.ndarray, zp: int, u: np.ndarray, out: np.ndarray) -> None:
        np.copyto(self.d_in, x.transpose(0, 2, 3, 1), casting="unsafe")
        if zp:
            self.d_in -= zp
        np.matmul(self.bt, self.d_rows, out=self.rows)
        np.copyto(self.cols, self.rows_g)
        if self.v32 is None:
            np.matmul(self.bt, self.cols3, out=self.v)
        else:
            np.matmul(self.bt, self.cols3, out=self.v32)
            np.copyto(self.v, self.v32)
        np.matmul(self.vg, u, out=self.mm)
        n2 = self.n * self.n
        np.matmul(self.kat, self.mm.reshape(n2, -1), out=self.y)
        if not self.fold:
            np.divide(self.y, self.divisor, out=self.y)  # exact: a multiple of the divisor
        m, th, tw = self.m, self.th, self.tw
        if self.ho == m * th and self.wo == m * tw:
            nb, k = out.shape[:2]
            np.copyto(out.reshape(nb, k, th, m, tw, m), self.y6.transpose(2, 5, 3, 0, 4, 1),
                      casting="unsafe")
            return
        for i in range(m):
            hi = len(range(i, self.ho, m))
            for j in range(m):
                wj = len(range(j, self.wo, m))
                if hi and wj:
                    np.copyto(out[:, :, i::m, j::m],
                              self.y6[i, j, :, :hi, :wj].transpose(0, 3, 1, 2),
                              casting="unsafe")


_LOCAL = threading.local()
_PLAN_CACHE_SIZE = 8


def _plan(wino: IntegerWinograd, nb, c, k, h, w, pads, tdtype) -> _Plan:
    """Per-thread cache of plans (buffers are reused across calls of the same shape)."""
    cache = getattr(_LOCAL, "plans", None)
    if cache is None:
        cache = _LOCAL.plans = OrderedDict()
    key = (wino.m, wino.r, wino.BT.tobytes(), wino.AT.tobytes(), nb, c, k, h, w, pads,
           np.dtype(tdtype).char)
    plan = cache.get(key)
    if plan is None:
        plan = cache[key] = _Plan(wino, nb, c, k, h, w, pads, tdtype)
        while len(cache) > _PLAN_CACHE_SIZE:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return plan


def _exact_bound(wino: IntegerWinograd, c: int, dmax: int, max_product: int) -> tuple[int, int]:
    """Worst |values| of the input transform and of every float64 stage after it."""
    bt, gs, at = _abs_row_sum(wino.BT), _abs_row_sum(wino.G), _abs_row_sum(wino.AT)
    vmax = dmax * bt * bt
    umax = max_product * gs * gs
    return vmax, c * umax * vmax * at * at


def conv2d_prepared(x, pw: PreparedWeights, x_zero_point=None, pads=(0, 0, 0, 0)) -> np.ndarray:
    """``ConvInteger`` of ``x[N, C, H, W]`` with prepared weights -> int32 ``[N, K, Ho, Wo]``."""
    x = _int8_tensor("x", x, 4)
    nb, c, h, w = x.shape
    if c != pw.c:
        raise WinnowParameterError(f"x has C={c} channels but the weights expect C={pw.c}")
    if nb < 1 or h < 1 or w < 1:
        raise WinnowParameterError(f"x must have N, H, W >= 1, got shape {x.shape}")
    zp = int(_zero_point("x_zero_point", x_zero_point, x.dtype))
    pads = _pads(pads)
    r = pw.wino.r
    ho, wo = output_shape(h, w, pads, r)
    if ho < 1 or wo < 1:
        raise WinnowParameterError(
            f"input {h}x{w} with pads {pads} is smaller than the {r}x{r} kernel")
    dmax = max(abs(np.iinfo(x.dtype).min - zp), abs(np.iinfo(x.dtype).max - zp))
    worst = c * r * r * dmax * pw.max_product
    if worst > INT32_MAX:
        raise WinnowOverflowError(
            f"C={c} with |x - zp| <= {dmax} and |w - zp| <= {pw.max_product} can reach {worst}, "
            f"beyond int32; split the input channels (at most "
            f"{INT32_MAX // (r * r * dmax * max(pw.max_product, 1))} per pass)")

    wino = pw.wino
    if pw.auto:
        ok = tuple(wn for wn in AUTO_CANDIDATES
                   if _exact_bound(wn, c, dmax, pw.max_product)[1] < _EXACT_F64)
        wino = choose_wino(pw.k, c, nb, ho, wo, ok or (pw.wino,))
    vmax, ymax = _exact_bound(wino, c, dmax, pw.max_product)
    if ymax >= _EXACT_F64:
        raise WinnowOverflowError(
            f"F({wino.m}x{wino.m},{wino.r}x{wino.r}) with C={c} could reach {ymax} in its "
            f"float64 stages (exact only below 2**53); use fewer channels per pass")
    tdtype = np.float32 if vmax < _EXACT_F32 else np.float64
    out = np.empty((nb, pw.k, ho, wo), dtype=np.int32)
    _plan(wino, nb, c, pw.k, h, w, pads, tdtype).run(x, zp, pw.u_for(wino), out)
    return out


def conv2d(x, w, x_zero_point=None, w_zero_point=None, pads=(0, 0, 0, 0),
           wino: IntegerWinograd | None = None) -> np.ndarray:
    """``ConvInteger(x, w, x_zp, w_zp)`` for a 3x3 stride-1 kernel, exactly as the engine does it.

    ``wino=None``: the emulator's choice of algorithm (same int32 result); ``F2x2_3x3``:
    the engine's.
    """
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
