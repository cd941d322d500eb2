"""Memory layouts shared by the engine and the host driver.

All buffers are little-endian and start at multiples of the bus width ``B``.

* **Activations** (inputs, and requantized outputs, so a layer's output is the
  next layer's input): NHWC per image, one *pixel* of ``pitch =
  roundup(C, B)`` bytes at ``(row * W + col) * pitch``; bytes past ``C`` are
  unused.
* **Raw outputs**: int32 NHWC, ``pitch = roundup(4 K, B)`` bytes per pixel.
* **Conv weights**: the transformed ``U = (2G)(w - w_zp)(2G)ᵀ`` as int16,
  ``[group][c][pe][n*n]`` with ``group = k // pes`` and ``pe = k % pes``
  (missing output channels of the last group are zero), so one group's
  weights are one contiguous stream.
* **GEMM** ``A[M, Kd] @ B[Kd, N]``: ``A`` is an activation image of width 4,
  height ``roundup(M, 16) / 4`` and ``Kd`` channels (row ``m`` is pixel
  ``(m // 4, m % 4)``; padding rows hold the zero point so they add 0);
  ``B - b_zp`` is stored like conv weights with each scalar repeated over the
  ``n*n`` lanes, so both modes share one weight path; the output is the raw
  (or requantized) NHWC image of the same geometry.
* **Requantization table**: ``[k] x {bias, multiplier, shift, 0}`` int32, each group of
  ``pes`` entries padded to a multiple of ``B`` bytes.
"""

from __future__ import annotations

import numpy as np

from .errors import WinnowParameterError
from .transforms import F2x2_3x3, IntegerWinograd

GEMM_ROWS = 16  # rows of A per tile in GEMM mode (one per multiplier of a PE)
GEMM_WIDTH = 4  # A is laid out as an image of this width
U_VECTOR_BYTES = 32  # one (c, pe) weight vector: n*n = 16 int16 elements of U
Q_ENTRY_BYTES = 16  # one requantization entry: bias, multiplier, shift, 0 (int32 each)
RAW_BYTES, Q_BYTES = 4, 1  # bytes per output element: raw int32, requantized int8


def roundup(v: int, q: int) -> int:
    return -(-v // q) * q


def activation_pitch(channels: int, bus_bytes: int) -> int:
    return roundup(channels, bus_bytes)


def raw_pitch(channels: int, bus_bytes: int) -> int:
    return roundup(4 * channels, bus_bytes)


def pack_activations(x: np.ndarray, bus_bytes: int) -> np.ndarray:
    """``x[C, H, W]`` (int8/uint8) -> flat uint8 buffer in NHWC pixel layout."""
    if x.ndim != 3 or x.dtype not in (np.int8, np.uint8):
        raise WinnowParameterError(f"activations must be int8/uint8 [C, H, W], not {x.dtype} {x.shape}")
    c, h, w = x.shape
    buf = np.zeros((h, w, activation_pitch(c, bus_bytes)), dtype=np.uint8)
    buf[:, :, :c] = x.transpose(1, 2, 0).view(np.uint8)
    return buf.reshape(-1)


def unpack_activations(buf: np.ndarray, c: int, h: int, w: int, bus_bytes: int,
                       dtype=np.int8) -> np.ndarray:
    """Inverse of :func:`pack_activations` -> ``[C, H, W]`` of ``dtype``."""
    pitch = activation_pitch(c, bus_bytes)
    a = np.asarray(buf, dtype=np.uint8)[: h * w * pitch].reshape(h, w, pitch)[:, :, :c]
    return a.view(dtype).transpose(2, 0, 1).copy()


def unpack_raw(buf: np.ndarray, k: int, h: int, w: int, bus_bytes: int) -> np.ndarray:
    """Raw int32 NHWC output -> ``[K, H, W]`` int32."""
    pitch = raw_pitch(k, bus_bytes)
    a = np.asarray(buf, dtype=np.uint8)[: h * w * pitch].view(np.int32)
    return a.reshape(h, w, pitch // 4)[:, :, :k].transpose(2, 0, 1).copy()


def pack_raw(y: np.ndarray, bus_bytes: int) -> np.ndarray:
    """``[K, H, W]`` int32 -> raw NHWC buffer (for accumulate passes)."""
    k, h, w = y.shape
    buf = np.zeros((h, w, raw_pitch(k, bus_bytes) // 4), dtype=np.int32)
    buf[:, :, :k] = y.transpose(1, 2, 0)
    return buf.reshape(-1).view(np.uint8)


def _grouped(u: np.ndarray, pes: int) -> np.ndarray:
    """``u[K, C, L]`` -> int16 ``[group][c][pe][L]`` with zero-filled missing PEs."""
    k, c, lanes = u.shape
    groups = -(-k // pes)
    out = np.zeros((groups * pes, c, lanes), dtype=np.int16)
    out[:k] = u
    return out.reshape(groups, pes, c, lanes).transpose(0, 2, 1, 3).reshape(-1)


def pack_conv_weights(w: np.ndarray, w_zero_point, pes: int,
                      wino: IntegerWinograd = F2x2_3x3) -> np.ndarray:
    """``w[K, C, 3, 3]`` -> transformed int16 weights in engine order (flat)."""
    g = np.asarray(w, dtype=np.int64) - np.asarray(w_zero_point, dtype=np.int64).reshape(-1, 1, 1, 1)
    u = wino.weight_transform(g)
    k, c = g.shape[:2]
    if np.abs(u).max(initial=0) >= 1 << 15:
        raise WinnowParameterError("transformed weights do not fit int16")
    return _grouped(u.reshape(k, c, -1), pes)


def pack_gemm_weights(b: np.ndarray, b_zero_point, pes: int, lanes: int = 16) -> np.ndarray:
    """``B[Kd, N]`` -> ``B - b_zp`` as int16, each value repeated over ``lanes``, engine order."""
    g = np.asarray(b, dtype=np.int64) - np.asarray(b_zero_point, dtype=np.int64)
    u = np.repeat(g.T[:, :, None], lanes, axis=2)  # [N, Kd, lanes]
    return _grouped(u, pes)


def gemm_image(a: np.ndarray, a_zero_point) -> np.ndarray:
    """``A[M, Kd]`` -> activation image ``[Kd, roundup(M, 16) / 4, 4]`` padded with the zero point."""
    m, kd = a.shape
    rows = roundup(m, GEMM_ROWS)
    img = np.full((rows, kd), a_zero_point, dtype=a.dtype)
    img[:m] = a
    return img.reshape(rows // GEMM_WIDTH, GEMM_WIDTH, kd).transpose(2, 0, 1)


def requant_group_bytes(pes: int, bus_bytes: int) -> int:
    """Bytes of one group's requantization entries (padded to a bus word)."""
    return roundup(Q_ENTRY_BYTES * pes, bus_bytes)


def pack_requant(bias, multiplier, shift, pes: int, bus_bytes: int) -> np.ndarray:
    """Per output channel ``{bias, multiplier, shift, 0}`` int32, in groups of ``pes``.

    Each group's entries start on a bus word (groups are padded to a multiple of
    ``bus_bytes``), and missing channels of the last group are zero.
    """
    k = len(bias)
    groups = -(-k // pes)
    t = np.zeros((groups * pes, 4), dtype=np.int32)
    t[:k, 0], t[:k, 1], t[:k, 2] = bias, multiplier, shift
    out = np.zeros((groups, requant_group_bytes(pes, bus_bytes)), dtype=np.uint8)
    out[:, :Q_ENTRY_BYTES * pes] = t.reshape(groups, Q_ENTRY_BYTES * pes // 4).view(np.uint8)
    return out.reshape(-1)
