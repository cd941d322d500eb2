"""Quantization layer of the golden model: weights, activations, requantization.

Three parts, all numpy-only:

1. **Weights** -- :func:`quantize_weights`: per-output-channel symmetric int8,
   bit-identical to ``onnxruntime.quantization`` (``quantize_data(w_k, INT8,
   symmetric=True)`` per channel).
2. **Activations** -- :func:`compute_scale_zp` (bit-identical to
   ``onnxruntime.quantization.quant_utils.compute_scale_zp``),
   :class:`Calibrator` / :func:`calibrate` (min/max or percentile over many
   batches), :func:`quantize_linear` / :func:`dequantize_linear` (ONNX
   ``QuantizeLinear`` / ``DequantizeLinear``: float32 arithmetic, round half to
   even, saturate).
3. **Requantization** int32 accumulator -> int8/uint8, in two forms:

   * *engine form* (:func:`requantize_engine`), what the RTL implements, integer
     only::

         v = acc + bias                                   (exact, sum_bits wide)
         p = v * M                                        (M: 0 or [2**30, 2**31))
         n = 31 + s                                       (total right shift, 1..62)
         t = (p >> n) + ((p >> (n - 1)) & 1)              (round half up, i.e. toward +inf)
         y = clamp(t, lo - zp, hi - zp) + zp              (lo = zp with ReLU)

     ``(M, s)`` come from :func:`quantize_multiplier` (gemmlowp/TFLite
     ``QuantizeMultiplier``: ``real = M * 2**-(31 + s)``, ``M`` rounded half away
     from zero). :func:`requant_widths` gives every intermediate width.
   * *host form* (:func:`requantize_host`), bit-identical to onnxruntime's CPU
     ``QLinearConv`` (checked against onnxruntime 1.32 in ``tests/test_quant.py``)::

         m = float32(float32(x_scale * w_scale[k]) / y_scale)      (all float32)
         y = saturate(round_half_even(float32(float32(acc + bias) * m)) + zp)

     The accumulator is converted to float32 (rounded to nearest even for
     ``|acc| > 2**24``) and the product is rounded to float32 before rounding to
     an integer. Computing the multiplier or the product in float64, or using
     ``1 / y_scale``, does *not* match (measured: hundreds of mismatches per
     100k near-tie cases).

   The two forms differ by at most 1 LSB, and only where the exact real value
   ``(acc + bias) * x_scale * w_scale / y_scale`` lies within
   :data:`HOST_ENGINE_REL_GAP` ``* max(1, |value|)`` of a ``k + 0.5`` boundary
   (including exact ties, where the engine rounds up and the host to even).
   Multipliers flushed to zero (``real < 2**-32``) are the one exception: the
   engine then outputs ``zp`` while the host can output ``zp +- 1``.
   Measured (onnxruntime 1.32, x86-64 AVX-512): 0 differences over 413k outputs of
   2000 random QLinearConv layers; 3150 differences over 102400 outputs built to sit
   within a few accumulator units of a ``.5`` boundary (1272 of them exact ties), all
   1 LSB, largest relative gap 1.3e-7 (bound 2**-21 = 4.8e-7).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from .errors import WinnowOverflowError, WinnowParameterError

__all__ = [
    "HOST_ENGINE_REL_GAP", "MULTIPLIER_BITS", "SHIFT_MAX", "SHIFT_MIN", "WEIGHT_QMAX",
    "ActivationParams", "CalibrationMethod", "Calibrator", "EngineRequant", "RequantWidths",
    "calibrate", "compute_scale_zp", "dequantize_linear", "engine_requant_params",
    "host_multiplier", "quantize_linear", "quantize_multiplier", "quantize_weights",
    "requant_widths", "requantize_engine", "requantize_host", "signed_bits",
]

#: Weights are quantized to [-WEIGHT_QMAX, WEIGHT_QMAX]. -128 is excluded so the grid
#: is symmetric: ``+max|w|`` and ``-max|w|`` both land exactly on ``+-127``, the zero
#: point is exactly 0, negation never overflows, and it is onnxruntime's symmetric int8
#: range (``ONNX_INT_TYPE_SYMMETRIC_RANGE``), so exported models agree bit for bit.
WEIGHT_QMAX = 127

#: Width of the requantization multiplier ``M`` (unsigned; ``M`` is 0 or in [2**30, 2**31)).
MULTIPLIER_BITS = 31
#: Range of the shift ``s`` (total right shift ``31 + s`` in [1, 62]): real multipliers
#: in [2**-32, 2**30) are representable; smaller ones flush to ``M = 0``.
SHIFT_MIN, SHIFT_MAX = -30, 31

#: Bound on where engine and host form can disagree (see module docstring): the exact
#: value is within ``HOST_ENGINE_REL_GAP * max(1, |value|)`` of a half-integer. Derived as
#: four float32 roundings in the host (x*w, /y, float32(acc), product: 4 * 2**-24, plus
#: second order) plus the engine's multiplier rounding (2**-31), rounded up to 2**-21.
HOST_ENGINE_REL_GAP = 2.0 ** -21

_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1


# ----------------------------------------------------------------------------- helpers

def _qdtype(dtype) -> np.dtype:
    """The quantized type: int8 or uint8 (anything numpy understands as such)."""
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise WinnowParameterError(
            f"quantized dtype must be int8 or uint8, got {dtype!r}") from e
    if dt not in (np.dtype(np.int8), np.dtype(np.uint8)):
        raise WinnowParameterError(f"quantized dtype must be int8 or uint8, got {dt}")
    return dt


def _qrange(dt: np.dtype, symmetric: bool = False) -> tuple[int, int]:
    """onnxruntime's ``get_qmin_qmax_for_qType`` (no reduce_range)."""
    if symmetric and dt == np.int8:
        return -127, 127
    info = np.iinfo(dt)
    return int(info.min), int(info.max)


def _float_array(name: str, a) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype.kind != "f":
        raise WinnowParameterError(f"{name} must be a floating-point array, got {a.dtype}")
    if a.size and not np.all(np.isfinite(a)):
        raise WinnowParameterError(f"{name} contains NaN or infinity; only finite values can be"
                                   " quantized")
    return a


def _scales(name: str, s, length: int | None = None) -> np.ndarray:
    """Positive finite float32 scales: a scalar, or 1-D of ``length`` when given."""
    a = np.asarray(s)
    if a.dtype.kind not in "fiu":
        raise WinnowParameterError(f"{name} must be a positive float, got dtype {a.dtype}")
    a = a.astype(np.float32)
    if a.size == 1:
        a = a.reshape(())
    elif length is None or a.shape != (length,):
        allowed = "a scalar" if length is None else f"a scalar or shape ({length},)"
        raise WinnowParameterError(f"{name} must be {allowed}, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or not np.all(a > 0):
        raise WinnowParameterError(
            f"{name} must be positive and finite (as float32), got {a.tolist()}")
    return a


def _zero_point(name: str, zp, dt: np.dtype) -> int:
    z = np.asarray(zp)
    if z.dtype.kind not in "iu" or z.size != 1:
        raise WinnowParameterError(
            f"{name} must be one integer, got {z.dtype} of shape {z.shape}")
    v = int(z.reshape(()))
    lo, hi = _qrange(dt)
    if not lo <= v <= hi:
        raise WinnowParameterError(f"{name}={v} is outside {dt} range [{lo}, {hi}]")
    return v


def signed_bits(lo: int, hi: int) -> int:
    """Fewest two's-complement bits holding every integer in ``[lo, hi]``."""
    lo, hi = int(lo), int(hi)
    if lo > hi:
        raise WinnowParameterError(f"empty range [{lo}, {hi}]")
    return 1 + max((-lo - 1).bit_length() if lo < 0 else 0, hi.bit_length() if hi > 0 else 0)


# ----------------------------------------------------------------------------- weights

def quantize_weights(w, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per-output-channel symmetric int8: ``w[K, ...] -> (w_int8, scales float32[K])``.

    ``scales[k] = float32(max|w_k| / 127)``, ``w_int8 = clip(round_half_even(float32(w) /
    scales[k]), -127, 127)`` in float32 arithmetic, exactly as
    ``onnxruntime.quantization.quant_utils.quantize_data(w_k, INT8, symmetric=True)``.
    A channel whose ``max|w_k| / 127`` is below the smallest normal float32 (in particular
    an all-zero channel) gets scale 1.0 and quantizes to zeros (onnxruntime's convention);
    no division by zero happens. Inputs are converted to float32 first (ONNX weights are
    float32). The zero point is 0 for every channel.
    """
    w = _float_array("w", w)
    if w.ndim < 1 or w.size == 0:
        raise WinnowParameterError(f"w must be a non-empty array [K, ...], got shape {w.shape}")
    if not -w.ndim <= axis < w.ndim:
        raise WinnowParameterError(f"axis={axis} is out of range for w of shape {w.shape}")
    wk = np.moveaxis(w.astype(np.float32), axis, 0)
    k = wk.shape[0]
    flat = wk.reshape(k, -1)
    absmax = np.abs(flat).max(axis=1).astype(np.float64)
    scale = absmax / WEIGHT_QMAX  # float64, like compute_scale_zp (2*absmax / 254)
    tiny = scale < np.finfo(np.float32).tiny
    scales = np.where(tiny, 1.0, scale).astype(np.float32)
    q = np.round(flat / scales[:, None])  # float32 / float32, round half to even
    q = np.clip(q, -WEIGHT_QMAX, WEIGHT_QMAX).astype(np.int8)
    return np.moveaxis(q.reshape(wk.shape), 0, axis), scales


# ----------------------------------------------------------------------------- activations

def compute_scale_zp(rmin, rmax, dtype, symmetric: bool = False) -> tuple[np.float32, int]:
    """Scale and zero point for the real range ``[rmin, rmax]``, onnxruntime's way.

    Bit-identical to ``quant_utils.compute_scale_zp(float32(rmin), float32(rmax), qmin,
    qmax, symmetric)`` with onnxruntime's ranges (uint8 [0, 255], int8 [-128, 127], or
    [-127, 127] when symmetric): the range is first widened to include 0 (so 0 is exactly
    representable, an ONNX requirement), made symmetric if asked, then
    ``scale = (rmax - rmin) / (qmax - qmin)`` in float64 stored as float32 and
    ``zp = round_half_even(qmin - rmin / scale)`` (symmetric: ``(qmin + qmax) / 2``
    rounded, i.e. 0 for int8 and 128 for uint8). A range narrower than the smallest
    normal float32 times ``qmax - qmin`` gives ``(1.0, 0)``.
    """
    dt = _qdtype(dtype)
    lo = np.asarray(rmin, dtype=np.float32)
    hi = np.asarray(rmax, dtype=np.float32)
    if lo.size != 1 or hi.size != 1:
        raise WinnowParameterError(f"rmin and rmax must be scalars, got shapes {lo.shape}, "
                                   f"{hi.shape}")
    lo, hi = float(lo.reshape(())), float(hi.reshape(()))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise WinnowParameterError(f"rmin, rmax must be finite float32 values, got {lo}, {hi}")
    if lo > hi:
        raise WinnowParameterError(f"rmin={lo} > rmax={hi}; the range must have rmin <= rmax")
    qmin, qmax = _qrange(dt, symmetric)
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if symmetric:
        a = max(abs(lo), abs(hi))
        lo, hi = -a, a
    scale = (hi - lo) / float(qmax - qmin)  # float64, as onnxruntime
    if scale < float(np.finfo(np.float32).tiny):
        return np.float32(1.0), 0
    if symmetric:
        zp = round((qmin + qmax) / 2.0)  # Python round: half to even, like numpy.round
    else:
        zp = int(np.round(qmin - lo / scale))
    return np.float32(scale), int(min(max(zp, qmin), qmax))


@dataclass(frozen=True)
class ActivationParams:
    """Per-tensor activation quantization: ``real = scale * (q - zero_point)``."""

    scale: np.float32
    zero_point: int
    dtype: np.dtype

    def quantize(self, x) -> np.ndarray:
        return quantize_linear(x, self.scale, self.zero_point, self.dtype)

    def dequantize(self, q) -> np.ndarray:
        return dequantize_linear(q, self.scale, self.zero_point)


class CalibrationMethod(StrEnum):
    """How a calibration range is chosen from the observed data."""

    MINMAX = "minmax"          #: the observed minimum and maximum
    PERCENTILE = "percentile"  #: cut (100 - p) / 2 percent from each tail


class Calibrator:
    """Accumulates calibration batches and turns them into :class:`ActivationParams`.

    ``update(batch)`` any number of times, then ``range()`` / ``params()``.
    MINMAX keeps the running min/max only. PERCENTILE also keeps a uniform random
    sample of at most ``max_samples`` values (a seeded reservoir: exact when fewer values
    were seen) and takes the ``(100 - p) / 2`` and ``100 - (100 - p) / 2`` percentiles
    (``numpy.quantile``, linear interpolation), clipped to the observed min/max.
    Either way the final range is widened to include 0 by :func:`compute_scale_zp`.
    """

    def __init__(self, dtype=np.uint8, method: CalibrationMethod | str = CalibrationMethod.MINMAX,
                 percentile: float = 99.99, symmetric: bool = False,
                 max_samples: int = 1 << 20, seed: int = 0):
        self.dtype = _qdtype(dtype)
        try:
            self.method = CalibrationMethod(method)
        except ValueError as e:
            raise WinnowParameterError(
                f"method must be one of {[m.value for m in CalibrationMethod]}, got {method!r}"
            ) from e
        p = float(percentile)
        if not 50.0 < p <= 100.0:
            raise WinnowParameterError(
                f"percentile must be in (50, 100] (e.g. 99.99), got {percentile}")
        if int(max_samples) < 1:
            raise WinnowParameterError(f"max_samples must be >= 1, got {max_samples}")
        self.percentile = p
        self.symmetric = bool(symmetric)
        self.max_samples = int(max_samples)
        self._rng = np.random.default_rng(seed)
        self._min = math.inf
        self._max = -math.inf
        self._count = 0
        self._keys = np.empty(0, dtype=np.float64)
        self._vals = np.empty(0, dtype=np.float32)

    @property
    def count(self) -> int:
        """Number of values seen so far."""
        return self._count

    def update(self, batch) -> Calibrator:
        x = _float_array("calibration batch", batch).astype(np.float32, copy=False).ravel()
        if x.size == 0:
            return self
        self._min = min(self._min, float(x.min()))
        self._max = max(self._max, float(x.max()))
        self._count += x.size
        if self.method is CalibrationMethod.PERCENTILE:
            keys = np.concatenate([self._keys, self._rng.random(x.size)])
            vals = np.concatenate([self._vals, x])
            if vals.size > self.max_samples:
                keep = np.argpartition(keys, self.max_samples - 1)[:self.max_samples]
                keys, vals = keys[keep], vals[keep]
            self._keys, self._vals = keys, vals
        return self

    def range(self) -> tuple[float, float]:
        """The calibrated ``(rmin, rmax)`` (before widening to include 0)."""
        if self._count == 0:
            raise WinnowParameterError("no calibration data: call update(batch) at least once")
        if self.method is CalibrationMethod.MINMAX:
            return self._min, self._max
        cut = (100.0 - self.percentile) / 200.0
        lo, hi = np.quantile(self._vals.astype(np.float64), [cut, 1.0 - cut])
        return max(float(lo), self._min), min(float(hi), self._max)

    def params(self) -> ActivationParams:
        scale, zp = compute_scale_zp(*self.range(), self.dtype, self.symmetric)
        return ActivationParams(scale, zp, self.dtype)


def calibrate(data, dtype=np.uint8, method: CalibrationMethod | str = CalibrationMethod.MINMAX,
              percentile: float = 99.99, symmetric: bool = False) -> ActivationParams:
    """:class:`ActivationParams` from one array or an iterable of batches."""
    cal = Calibrator(dtype, method, percentile, symmetric)
    batches: Iterable = [data] if isinstance(data, np.ndarray) else data
    for b in batches:
        cal.update(b)
    return cal.params()


def quantize_linear(x, scale, zero_point, dtype) -> np.ndarray:
    """ONNX ``QuantizeLinear`` (per tensor): ``saturate(round_half_even(x / scale) + zp)``.

    ``x`` and ``scale`` are taken as float32 and divided in float32, like onnxruntime.
    """
    dt = _qdtype(dtype)
    s = _scales("scale", scale)
    zp = _zero_point("zero_point", zero_point, dt)
    x = _float_array("x", x).astype(np.float32, copy=False)
    lo, hi = _qrange(dt)
    q = np.round(x / s) + np.float32(zp)
    return np.clip(q, lo, hi).astype(dt)


def dequantize_linear(q, scale, zero_point) -> np.ndarray:
    """ONNX ``DequantizeLinear`` (per tensor): ``float32(q - zp) * float32(scale)``."""
    q = np.asarray(q)
    dt = _qdtype(q.dtype)
    s = _scales("scale", scale)
    zp = _zero_point("zero_point", zero_point, dt)
    return (q.astype(np.int32) - zp).astype(np.float32) * s


# ----------------------------------------------------------------------------- requantization

def quantize_multiplier(real: float) -> tuple[int, int]:
    """``real ~= M * 2**-(31 + s)`` with ``M`` 0 or in [2**30, 2**31) (gemmlowp/TFLite).

    ``real = q * 2**e`` with ``q`` in [0.5, 1) (``frexp``), ``M = round_half_away(q *
    2**31)`` (exact in float64), renormalized if it reaches 2**31; ``s = -e``. The
    relative error of ``M * 2**-(31+s)`` is at most ``2**-31``. ``real == 0`` and
    ``0 < real < 2**-32`` (where ``s`` would exceed :data:`SHIFT_MAX`) give ``(0, 0)``:
    the output is then the zero point (TFLite's convention; exact would be within 1 LSB
    since ``|acc + bias| < 2**32``). Negative, non-finite or ``>= 2**30`` multipliers are
    errors.
    """
    r = float(real)
    if not math.isfinite(r) or r < 0:
        raise WinnowParameterError(
            f"requantization multiplier must be finite and >= 0, got {real!r}")
    if r == 0.0:
        return 0, 0
    q, e = math.frexp(r)
    m = math.floor(q * (1 << 31) + 0.5)  # q > 0: half away from zero == half up
    if m == 1 << 31:
        m, e = 1 << 30, e + 1
    s = -e
    if s > SHIFT_MAX:
        return 0, 0
    if s < SHIFT_MIN:
        raise WinnowParameterError(
            f"requantization multiplier {r!r} is too large for the engine (it must be below "
            f"2**{-SHIFT_MIN}); raise y_scale or requantize on the host")
    return int(m), int(s)


@dataclass(frozen=True)
class EngineRequant:
    """Per-output-channel engine requantization parameters (what the RTL registers hold)."""

    multiplier: np.ndarray  #: int64[K], each 0 or in [2**30, 2**31)
    shift: np.ndarray       #: int64[K], in [SHIFT_MIN, SHIFT_MAX]; right shift by 31 + shift
    zero_point: int         #: output zero point
    dtype: np.dtype         #: output type, int8 or uint8
    relu: bool = False      #: clamp low at the zero point

    def __post_init__(self):
        m = np.asarray(self.multiplier)
        s = np.asarray(self.shift)
        dt = _qdtype(self.dtype)
        object.__setattr__(self, "dtype", dt)
        if m.ndim != 1 or s.shape != m.shape or m.size == 0:
            raise WinnowParameterError(
                f"multiplier and shift must be 1-D of the same length K >= 1, got shapes "
                f"{m.shape} and {s.shape}")
        if m.dtype.kind not in "iu" or s.dtype.kind not in "iu":
            raise WinnowParameterError(
                f"multiplier and shift must be integers, got {m.dtype} and {s.dtype}")
        m = m.astype(np.int64)
        s = s.astype(np.int64)
        ok = (m == 0) | ((m >= 1 << 30) & (m < 1 << 31))
        if not ok.all():
            raise WinnowParameterError(
                f"multiplier {m[~ok].tolist()} not normalized: each must be 0 or in "
                f"[2**30, 2**31) (use quantize_multiplier)")
        bad = (s < SHIFT_MIN) | (s > SHIFT_MAX)
        if bad.any():
            raise WinnowParameterError(
                f"shift {s[bad].tolist()} outside [{SHIFT_MIN}, {SHIFT_MAX}]")
        object.__setattr__(self, "multiplier", m)
        object.__setattr__(self, "shift", s)
        object.__setattr__(self, "zero_point", _zero_point("zero_point", self.zero_point, dt))

    @property
    def bounds(self) -> tuple[int, int]:
        """Output clamp ``[lo, hi]`` (``lo`` is the zero point with ReLU)."""
        lo, hi = _qrange(self.dtype)
        return (max(lo, self.zero_point) if self.relu else lo), hi


def engine_requant_params(x_scale, w_scale, y_scale, y_zero_point, dtype,
                          relu: bool = False) -> EngineRequant:
    """``(M, s)`` per channel for ``real[k] = x_scale * w_scale[k] / y_scale``.

    The scales are taken as float32 (what ONNX stores) and combined in float64 (the
    product of two float32 values is exact; one rounding in the division).
    ``w_scale`` is a scalar (per tensor, K = 1 broadcast) or 1-D (per channel).
    """
    xs = _scales("x_scale", x_scale)
    ws = np.atleast_1d(_scales("w_scale", w_scale, np.asarray(w_scale).size))
    ys = _scales("y_scale", y_scale)
    real = np.float64(xs) * ws.astype(np.float64) / np.float64(ys)
    ms = [quantize_multiplier(r) for r in real.tolist()]
    return EngineRequant(np.array([m for m, _ in ms], dtype=np.int64),
                         np.array([s for _, s in ms], dtype=np.int64),
                         y_zero_point, dtype, relu)


@dataclass(frozen=True)
class RequantWidths:
    """Exact two's-complement widths of every engine requantization intermediate."""

    acc_bits: int         #: signed accumulator input
    bias_bits: int        #: signed bias input
    sum_bits: int         #: signed ``acc + bias``
    multiplier_bits: int  #: unsigned ``M``
    product_bits: int     #: signed ``(acc + bias) * M``
    shift_bits: int       #: unsigned total right shift ``31 + s`` (values 1..62)
    rounded_bits: int     #: signed ``(p >> n) + p[n-1]`` (worst case is the smallest n)
    clamp_bits: int       #: signed clamp bounds ``lo - zp``, ``hi - zp``
    out_bits: int         #: the 8-bit output


def requant_widths(acc_bits: int = 32, bias_bits: int = 32) -> RequantWidths:
    """Widths for the engine requantizer, derived from the operand ranges (not typed)."""
    for name, b in (("acc_bits", acc_bits), ("bias_bits", bias_bits)):
        if not isinstance(b, int | np.integer) or not 2 <= int(b) <= 32:
            raise WinnowParameterError(f"{name} must be an integer in [2, 32], got {b!r}")
    a_lo, a_hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    b_lo, b_hi = -(1 << (bias_bits - 1)), (1 << (bias_bits - 1)) - 1
    v_lo, v_hi = a_lo + b_lo, a_hi + b_hi
    m_hi = (1 << MULTIPLIER_BITS) - 1
    p_lo, p_hi = v_lo * m_hi, v_hi * m_hi
    n_min, n_max = 31 + SHIFT_MIN, 31 + SHIFT_MAX
    # floor(p / 2**n) + bit(n-1): between floor(p_lo / 2**n) and floor(p_hi / 2**n) + 1
    r_lo, r_hi = p_lo >> n_min, (p_hi >> n_min) + 1
    # lo - zp and hi - zp over every zero point of both output types (ReLU only narrows)
    c_lo = min(_qrange(np.dtype(d))[0] - _qrange(np.dtype(d))[1] for d in (np.int8, np.uint8))
    c_hi = -c_lo
    return RequantWidths(
        acc_bits=int(acc_bits), bias_bits=int(bias_bits),
        sum_bits=signed_bits(v_lo, v_hi),
        multiplier_bits=MULTIPLIER_BITS,
        product_bits=signed_bits(p_lo, p_hi),
        shift_bits=n_max.bit_length(),
        rounded_bits=signed_bits(r_lo, r_hi),
        clamp_bits=signed_bits(c_lo, c_hi),
        out_bits=8,
    )


def _acc_bias(acc, bias, k: int | None, axis: int) -> tuple[np.ndarray, int]:
    a = np.asarray(acc)
    if a.dtype != np.int32:
        raise WinnowParameterError(f"acc must be int32 (the engine's accumulator), got {a.dtype}")
    if a.ndim < 1 or not -a.ndim <= axis < a.ndim:
        raise WinnowParameterError(f"channel axis {axis} out of range for acc of shape {a.shape}")
    ch = a.shape[axis]
    if k is not None and k not in (1, ch):
        raise WinnowParameterError(
            f"{k} per-channel requantization parameters but acc has {ch} channels on axis {axis}")
    v = a.astype(np.int64)
    if bias is not None:
        b = np.asarray(bias)
        if b.dtype != np.int32 or b.shape != (ch,):
            raise WinnowParameterError(
                f"bias must be int32 of shape ({ch},), got {b.dtype} of shape {b.shape}")
        v = v + _per_channel(b.astype(np.int64), a.ndim, axis)
    return v, ch


def _per_channel(x: np.ndarray, ndim: int, axis: int) -> np.ndarray:
    """Reshape a 1-D per-channel array to broadcast along ``axis`` of an ``ndim`` array."""
    shape = [1] * ndim
    shape[axis] = x.size
    return x.reshape(shape)


def requantize_engine(acc, params: EngineRequant, bias=None, axis: int = 1) -> np.ndarray:
    """Engine form, integer only (int64, vectorized): int32 ``acc`` -> int8/uint8.

    ``y = clamp((v*M >> n) + bit(v*M, n-1), lo - zp, hi - zp) + zp`` with ``v = acc + bias``,
    ``n = 31 + s``: round half up (toward +inf). ``|v*M| < 2**63`` so int64 is exact.
    """
    if not isinstance(params, EngineRequant):
        raise WinnowParameterError(f"params must be an EngineRequant, got {type(params)}")
    v, _ = _acc_bias(acc, bias, params.multiplier.size, axis)
    m = _per_channel(params.multiplier, v.ndim, axis)
    n = _per_channel(params.shift + 31, v.ndim, axis)
    p = v * m
    t = (p >> n) + ((p >> (n - 1)) & 1)
    lo, hi = params.bounds
    zp = params.zero_point
    return (np.clip(t, lo - zp, hi - zp) + zp).astype(params.dtype)


def host_multiplier(x_scale, w_scale, y_scale) -> np.ndarray:
    """onnxruntime's ``QLinearConv`` multiplier: ``float32(float32(xs * ws[k]) / ys)``."""
    xs = _scales("x_scale", x_scale)
    ws = np.atleast_1d(_scales("w_scale", w_scale, np.asarray(w_scale).size))
    ys = _scales("y_scale", y_scale)
    with np.errstate(over="ignore", under="ignore"):
        m = (xs * ws) / ys  # float32 throughout
    if not np.all(np.isfinite(m)):
        raise WinnowParameterError(
            f"x_scale * w_scale / y_scale overflows float32 ({m.tolist()}); y_scale is too "
            "small for these input scales")
    return m


def requantize_host(acc, x_scale, w_scale, y_scale, y_zero_point, dtype, bias=None,
                    axis: int = 1) -> np.ndarray:
    """Host form: bit-identical to onnxruntime's CPU ``QLinearConv`` output rounding.

    ``y = saturate(round_half_even(float32(acc + bias) * m[k]) + zp)`` with float32
    multiplication and ``m`` from :func:`host_multiplier`. ``acc + bias`` must fit int32
    (onnxruntime adds them in int32 and would wrap around).
    """
    dt = _qdtype(dtype)
    zp = _zero_point("y_zero_point", y_zero_point, dt)
    m = host_multiplier(x_scale, w_scale, y_scale)
    v, _ = _acc_bias(acc, bias, m.size, axis)
    if bias is not None and v.size and (v.min() < _INT32_MIN or v.max() > _INT32_MAX):
        raise WinnowOverflowError(
            f"acc + bias spans [{v.min()}, {v.max()}], beyond int32; onnxruntime would wrap "
            "around. Keep |bias| small enough that acc + bias fits int32")
    lo, hi = _qrange(dt)
    with np.errstate(over="ignore"):
        f = v.astype(np.float32) * _per_channel(m, v.ndim, axis)
    f = np.clip(f, np.float32(lo - zp), np.float32(hi - zp))  # like MLAS: clamp, then round
    return (np.round(f).astype(np.int32) + zp).astype(dt)
