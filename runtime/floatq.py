"""How float layers are quantized for the engine (policy; the arithmetic is ``hls.quant``).

* Weights: per output channel (conv ``K``, GEMM column ``N``), symmetric int8,
  ``hls.quant.quantize_weights`` (identical to onnxruntime's quantizer).
* Activations: per tensor. The first operand is ``uint8`` asymmetric (it is
  usually post-ReLU); the second operand of an activation x activation GEMM
  is ``int8`` symmetric. The range comes from, in order of precedence:

  1. *lossless*: a tensor whose values are all integers that fit the type
     gets scale 1 and zero point 0, so the layer is exact (pixel values, the
     ONNX conformance tests). Weights likewise when every channel is
     integer-valued in [-127, 127].
  2. *calibration*: the min/max over the calibration inputs given to the
     session (static scales, what a deployed engine would use).
  3. *dynamic* (the documented default with no calibration): the min/max of
     the tensor in the current run, like onnxruntime's dynamic quantization.
"""

from __future__ import annotations

import enum

import numpy as np
from winnow.hls import quant


class FloatPolicy(enum.Enum):
    """What the runtime does with float Conv/MatMul/Gemm layers the engine could take."""

    QUANTIZE = "quantize"  #: int8 on the engine, dequantized back (approximate; error reported)
    EXACT = "exact"  #: on the engine only when lossless (integer-valued data), else on the host
    HOST = "host"  #: never offload float layers


class RangeSource(enum.Enum):
    LOSSLESS = "lossless"
    CALIBRATION = "calibration"
    DYNAMIC = "dynamic"


def lossless_weights(w: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """``(int8 weights, ones)`` when ``w`` is integer-valued in [-127, 127]; else None."""
    if w.size and np.all(np.abs(w) <= quant.WEIGHT_QMAX) and np.all(w == np.round(w)):
        return w.astype(np.int8), np.ones(w.shape[axis], dtype=np.float32)
    return None


def quantize_weights(w: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray, bool]:
    """Per-channel int8 weights, float32 scales, and whether the result is exact."""
    exact = lossless_weights(w, axis)
    if exact is not None:
        return exact[0], exact[1], True
    q, s = quant.quantize_weights(w, axis)
    return q, s, False


def _integer_valued(x: np.ndarray) -> bool:
    """All elements integers; a small sample is tested first (real activations fail there)."""
    flat = x.reshape(-1)
    head = flat[:256]
    if not np.array_equal(head, np.rint(head)):
        return False
    return bool(np.all(flat == np.rint(flat)))


def lossless_activation(x: np.ndarray, symmetric: bool) -> quant.ActivationParams | None:
    """Scale 1, zero point 0 when ``x`` is integer-valued and fits uint8 (or int8)."""
    if not x.size or not _integer_valued(x):
        return None
    lo, hi = float(x.min()), float(x.max())
    if not symmetric and lo >= 0 and hi <= 255:
        return quant.ActivationParams(np.float32(1.0), 0, np.dtype(np.uint8))
    if lo >= -127 and hi <= 127:
        return quant.ActivationParams(np.float32(1.0), 0, np.dtype(np.int8))
    return None


def activation_params(x: np.ndarray, symmetric: bool,
                      calibrated: tuple[float, float] | None) -> tuple[quant.ActivationParams,
                                                                     RangeSource]:
    """Per-tensor parameters for ``x`` (see the module docstring for the precedence)."""
    p = lossless_activation(x, symmetric)
    if p is not None:
        return p, RangeSource.LOSSLESS
    dtype = np.int8 if symmetric else np.uint8
    if calibrated is not None:
        lo, hi = calibrated
        src = RangeSource.CALIBRATION
    else:
        lo, hi = float(x.min()), float(x.max())
        src = RangeSource.DYNAMIC
    scale, zp = quant.compute_scale_zp(lo, hi, dtype, symmetric)
    return quant.ActivationParams(scale, zp, np.dtype(dtype)), src


def quantize(x: np.ndarray, p: quant.ActivationParams, buf: np.ndarray | None = None
             ) -> np.ndarray:
    """``quant.quantize_linear(x, p.scale, p.zero_point, p.dtype)`` with fewer passes.

    Same arithmetic (float32 division, round half to even, saturation), computed
    in place in ``buf`` (float32, ``x``'s shape) when given; NaN is refused as there.
    """
    x = np.asarray(x)
    if x.dtype != np.float32:
        return p.quantize(x)
    t = np.divide(x, np.float32(p.scale), out=buf) if buf is not None else np.divide(
        x, np.float32(p.scale))
    np.rint(t, out=t)
    if p.zero_point:
        t += np.float32(p.zero_point)
    info = np.iinfo(p.dtype)
    np.clip(t, info.min, info.max, out=t)
    if t.size and np.isnan(np.add.reduce(t, axis=None)):
        return p.quantize(x)  # raises the typed error for NaN
    return t.astype(p.dtype)
