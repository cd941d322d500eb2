"""The ``emu`` device's conv: the ``hls`` golden model, or an exact float32 direct conv when faster.

The engine's conv result is an int32 ``ConvInteger``; any exact method gives
the same bits. The golden model (:func:`winnow.hls.golden.conv2d_prepared`)
computes it by integer Winograd through float64 BLAS, which is fast when
there are many input channels and slow when there are few (its transforms
then dominate: a 3 -> 64 channel layer at 224x224 took 13x onnxruntime's
float ``Conv``). For those layers this module computes the same correlation
directly, im2col + float32 GEMM, exact because every product and partial sum
is an integer below 2**24:

    chunk * 9 * max|x - x_zp| * max|w - w_zp| < 2**24

per chunk of input channels (balanced chunks no larger than the bound
allows; chunks are added in int32, within the int32 bound the golden model
checks). The choice between the two is a speed decision only, never a
numerical one: on a layer's first call (per input shape) both run, their
results are compared (they must be equal) and the faster is kept for later
calls. Weights in the float32 layout are made once per layer and kept with
the prepared weights.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

import numpy as np
from numpy.lib.stride_tricks import as_strided
from winnow.hls import golden

_EXACT_F32 = 1 << 24
_KEY = ("runtime.emuconv", "direct-f32")  # cache keys in PreparedWeights._other
_CHOICE = ("runtime.emuconv", "choice")
#: The direct conv is tried on layers that need at most this many float32 GEMMs.
MAX_CHUNKS = 6


def direct_chunk(c: int, dmax: int, wmax: int) -> int:
    """Input channels per float32 GEMM that keep every partial sum exact (balanced chunks)."""
    most = max(1, (_EXACT_F32 - 1) // (9 * max(dmax, 1) * max(wmax, 1)))
    n = -(-c // most)
    return -(-c // n)


def candidate(c: int, dmax: int, wmax: int) -> bool:
    """Layers where the direct conv may be faster: few channels or few chunks."""
    return -(-c // direct_chunk(c, dmax, wmax)) <= MAX_CHUNKS


class _Plan:
    """Reusable buffers for one (shape, pads): padded input and im2col columns, float32."""

    def __init__(self, n: int, c: int, h: int, w: int, pads: tuple[int, int, int, int], k: int):
        pt, pl, pb, pr = pads
        self.ho, self.wo = h + pt + pb - 2, w + pl + pr - 2
        self.xp = np.zeros((n, c, h + pt + pb, w + pl + pr), dtype=np.float32)
        self.x_in = self.xp[:, :, pt:pt + h, pl:pl + w]
        s = self.xp.strides
        self.win = as_strided(self.xp, (n, c, 3, 3, self.ho, self.wo),
                              (s[0], s[1], s[2], s[3], s[2], s[3]), writeable=False)
        self.cols = np.empty((n, c, 3, 3, self.ho, self.wo), dtype=np.float32)
        self.y = np.empty((n, k, self.ho * self.wo), dtype=np.float32)


_LOCAL = threading.local()


def _plan(n, c, h, w, pads, k) -> _Plan:
    cache = getattr(_LOCAL, "plans", None)
    if cache is None:
        cache = _LOCAL.plans = OrderedDict()
    key = (n, c, h, w, pads, k)
    p = cache.get(key)
    if p is None:
        p = cache[key] = _Plan(n, c, h, w, pads, k)
        while len(cache) > 16:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return p


def _weights(pw: golden.PreparedWeights, chunk: int) -> list[tuple[int, int, np.ndarray]]:
    """``[(c0, c1, w[K, (c1-c0)*9] float32)]`` for channel chunks, made once per layer."""
    cache = pw._other.get(_KEY)
    if cache is None:
        cache = pw._other[_KEY] = {}
    mats = cache.get(chunk)
    if mats is None:
        g = pw.g.astype(np.float32).reshape(pw.k, pw.c * 9)
        mats = cache[chunk] = [(c0, min(c0 + chunk, pw.c),
                                np.ascontiguousarray(g[:, c0 * 9:min(c0 + chunk, pw.c) * 9]))
                               for c0 in range(0, pw.c, chunk)]
    return mats


def conv2d(x: np.ndarray, pw: golden.PreparedWeights, x_zero_point=None,
           pads=(0, 0, 0, 0)) -> np.ndarray:
    """``ConvInteger`` of ``x[N, C, H, W]`` -> int32, bit-identical to the golden model."""
    x = np.asarray(x)
    zp = 0 if x_zero_point is None else np.asarray(x_zero_point)
    pads = tuple(int(p) for p in pads)
    if (pw.g is None or x.dtype not in (np.int8, np.uint8) or x.ndim != 4 or x.shape[1] != pw.c
            or np.ndim(zp) > 1 or np.size(zp) != 1 or len(pads) != 4 or min(pads) < 0):
        return golden.conv2d_prepared(x, pw, x_zero_point, pads)  # it validates and raises
    zp = int(np.asarray(zp).reshape(()))
    info = np.iinfo(x.dtype)
    if not info.min <= zp <= info.max:
        return golden.conv2d_prepared(x, pw, x_zero_point, pads)
    dmax = max(zp - info.min, info.max - zp)
    n, c, h, w = x.shape
    ho, wo = golden.output_shape(h, w, pads)
    worst = c * 9 * dmax * pw.max_product
    if (not candidate(c, dmax, pw.max_product) or n < 1 or ho < 1 or wo < 1
            or worst > golden.INT32_MAX):
        return golden.conv2d_prepared(x, pw, x_zero_point, pads)
    # Which method is faster for this layer and shape: timed once, on the first call.
    choices = pw._other.setdefault(_CHOICE, {})
    key = (x.shape, x.dtype.char, dmax, pads)
    method = choices.get(key)
    if method is None:
        y = golden.conv2d_prepared(x, pw, x_zero_point, pads)  # first call: its buffers made
        t0 = time.perf_counter()
        golden.conv2d_prepared(x, pw, x_zero_point, pads)
        t1 = time.perf_counter()
        _direct(x, pw, zp, dmax, pads)  # first call: buffers and weights made
        t2 = time.perf_counter()
        y2 = _direct(x, pw, zp, dmax, pads)
        t3 = time.perf_counter()
        if not np.array_equal(y, y2):  # cannot happen (both exact); never trust a wrong one
            raise AssertionError("direct float32 conv differs from the golden model")
        choices[key] = "direct" if t3 - t2 < t1 - t0 else "golden"
        return y
    if method == "golden":
        return golden.conv2d_prepared(x, pw, x_zero_point, pads)
    return _direct(x, pw, zp, dmax, pads)


def _direct(x: np.ndarray, pw: golden.PreparedWeights, zp: int, dmax: int,
            pads: tuple[int, int, int, int]) -> np.ndarray:
    n, c, h, w = x.shape
    ho, wo = golden.output_shape(h, w, pads)
    p = _plan(n, c, h, w, pads, pw.k)
    np.copyto(p.x_in, x, casting="unsafe")
    if zp:
        p.x_in -= np.float32(zp)
    np.copyto(p.cols, p.win)
    cols = p.cols.reshape(n, c * 9, ho * wo)
    out = np.empty((n, pw.k, ho, wo), dtype=np.int32)
    out3 = out.reshape(n, pw.k, ho * wo)
    for j, (c0, c1, wm) in enumerate(_weights(pw, direct_chunk(c, dmax, pw.max_product))):
        np.matmul(wm, cols[:, c0 * 9:c1 * 9], out=p.y)
        if j == 0:
            np.copyto(out3, p.y, casting="unsafe")  # exact integers below 2**24
        else:
            out3 += p.y.astype(np.int32)
    return out
