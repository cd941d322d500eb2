"""The device interface: what the runtime asks of an engine, and the emulator behind it.

A device computes the engine's two integer operations and counts cycles:

* ``load_conv_weights(w, w_zero_point)`` once per layer -> a handle
  (weights are transformed once, as the driver would upload them once);
* ``conv(x, handle, x_zero_point, pads)`` -> exact int32 ``ConvInteger``;
* ``gemm(a, b, a_zero_point, b_zero_point)`` -> exact int32 ``MatMulInteger``;
* every call returns its estimated (``EMU``) or measured (``RTL``) cycles.

Implementations are chosen by :class:`DeviceKind`; :func:`open_device` is the
one place a user string ("emu") becomes the enum.
"""

from __future__ import annotations

import abc
import enum
import math
from dataclasses import dataclass

import numpy as np
from winnow.hls import golden
from winnow.hls.config import EngineConfig
from winnow.hls.plan import ConvLayer, GemmLayer, plan_conv, plan_gemm

from .errors import WinnowDeviceError


class DeviceKind(enum.Enum):
    EMU = "emu"  #: the hls golden model (vectorized numpy) with the hls cycle model
    RTL = "rtl"  #: the Verilated engine on the virtual board (not built yet)

    @classmethod
    def parse(cls, kind: DeviceKind | str) -> DeviceKind:
        if isinstance(kind, cls):
            return kind
        try:
            return cls(str(kind).lower())
        except ValueError:
            raise WinnowDeviceError(
                f"unknown device {kind!r}; choose one of {[k.value for k in cls]}") from None


@dataclass(frozen=True)
class Result:
    """One engine call: the int32 result and its cycle count (estimated on EMU)."""

    y: np.ndarray
    cycles: int
    macs: int


@dataclass(frozen=True)
class WeightHandle:
    """Weights resident on the device for one conv layer."""

    index: int
    k: int
    c: int


class Device(abc.ABC):
    """One engine. Calls are synchronous; a device is not thread-safe."""

    kind: DeviceKind

    def __init__(self, config: EngineConfig | None = None):
        self.config = config or EngineConfig()
        self.total_cycles = 0
        self.calls = 0

    @abc.abstractmethod
    def load_conv_weights(self, w: np.ndarray, w_zero_point=None) -> WeightHandle:
        """Upload ``w[K, C, 3, 3]`` (int8/uint8, ``w - zp`` in [-128, 127]) once."""

    @abc.abstractmethod
    def conv(self, x: np.ndarray, weights: WeightHandle, x_zero_point=None,
             pads=(0, 0, 0, 0)) -> Result:
        """3x3 stride-1 ``ConvInteger`` of ``x[N, C, H, W]`` -> int32 ``[N, K, Ho, Wo]``."""

    @abc.abstractmethod
    def gemm(self, a: np.ndarray, b: np.ndarray, a_zero_point=None, b_zero_point=None) -> Result:
        """GEMM mode, ``MatMulInteger`` semantics, ``a[..., M, Kd] @ b[..., Kd, N]`` -> int32."""

    def _count(self, cycles: int) -> int:
        self.total_cycles += cycles
        self.calls += 1
        return cycles


class EmuDevice(Device):
    """The ``hls`` golden model; cycles from the ``hls`` cycle model (``plan_conv``/``plan_gemm``)."""

    kind = DeviceKind.EMU

    def __init__(self, config: EngineConfig | None = None):
        super().__init__(config)
        self._weights: list[golden.PreparedWeights] = []
        self._plans: dict[tuple, int] = {}

    def load_conv_weights(self, w, w_zero_point=None) -> WeightHandle:
        pw = golden.prepare_weights(w, w_zero_point, self.config.wino)
        self._weights.append(pw)
        return WeightHandle(len(self._weights) - 1, pw.k, pw.c)

    def conv(self, x, weights, x_zero_point=None, pads=(0, 0, 0, 0)) -> Result:
        if not isinstance(weights, WeightHandle) or not 0 <= weights.index < len(self._weights):
            raise WinnowDeviceError(f"{weights!r} is not a weight handle of this device")
        pw = self._weights[weights.index]
        y = golden.conv2d_prepared(x, pw, x_zero_point, pads)
        n, c, h, w = x.shape
        key = ("conv", n, c, h, w, pw.k, tuple(int(p) for p in pads))
        if key not in self._plans:
            self._plans[key] = plan_conv(ConvLayer(n, c, h, w, pw.k, key[-1]), self.config).cycles
        layer_macs = n * pw.k * c * 9 * y.shape[2] * y.shape[3]
        return Result(y, self._count(self._plans[key]), layer_macs)

    def gemm(self, a, b, a_zero_point=None, b_zero_point=None) -> Result:
        y = golden.gemm(a, b, a_zero_point, b_zero_point)
        m, kd, n = a.shape[-2], a.shape[-1], b.shape[-1]
        batches = math.prod(y.shape[:-2])
        key = ("gemm", m, kd, n)
        if key not in self._plans:
            self._plans[key] = plan_gemm(GemmLayer(m, kd, n), self.config).cycles
        return Result(y, self._count(batches * self._plans[key]), batches * m * kd * n)


def open_device(kind: DeviceKind | str = DeviceKind.EMU,
                config: EngineConfig | None = None) -> Device:
    """A device of ``kind`` (``"emu"`` is accepted and converted to the enum here, once)."""
    kind = DeviceKind.parse(kind)
    if kind is DeviceKind.EMU:
        return EmuDevice(config)
    raise WinnowDeviceError(
        f"device {kind.value!r} is not available yet (the virtual board is a separate issue); "
        f"use {DeviceKind.EMU.value!r}")
