"""The device interface: what the runtime asks of an engine, and the emulator behind it.

A device computes the engine's two integer operations and counts cycles:

* ``load_conv_weights(w, w_zero_point)`` once per layer -> a handle
  (weights are transformed once, as the driver would upload them once);
* ``conv(x, handle, x_zero_point, pads)`` -> exact int32 ``ConvInteger``;
* ``gemm(a, b, a_zero_point, b_zero_point)`` -> exact int32 ``MatMulInteger``;
* every call returns its estimated (``EMU``) or measured (``RTL``) cycles,
  and appends a :class:`CallRecord` (measured and modelled cycles, MAC-active
  cycles, engine runs) to :attr:`Device.log`.

Implementations are chosen by :class:`DeviceKind`; :func:`open_device` is the
one place a user string ("emu") becomes the enum.
"""

from __future__ import annotations

import abc
import contextlib
import enum
import math
import os
from dataclasses import dataclass

import numpy as np
from winnow.hls import golden
from winnow.hls.config import EngineConfig
from winnow.hls.plan import ConvLayer, GemmLayer, plan_conv, plan_gemm

from . import emuconv
from .errors import WinnowDeviceError


class DeviceKind(enum.Enum):
    EMU = "emu"  #: the hls golden model (vectorized numpy) with the hls cycle model
    RTL = "rtl"  #: the Verilated engine on the virtual board (:mod:`.vboard`)

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
class CallRecord:
    """One device call: engine cycles (measured on RTL, modelled on EMU) beside the cycle model."""

    kind: str  # "conv" | "gemm"
    cycles: int
    model_cycles: int
    mac_cycles: int  # cycles with the multipliers fed
    stall_cycles: int = 0  # busy cycles waiting for memory (measured only)
    runs: int = 1  # engine runs (descriptors)
    measured: bool = False


@dataclass(frozen=True)
class WeightHandle:
    """Weights resident on the device for one conv layer."""

    index: int
    k: int
    c: int


class Device(abc.ABC):
    """One engine. Calls are synchronous; a device is not thread-safe."""

    kind: DeviceKind

    #: Engine clock the report converts cycles to time with (Hz).
    clock_hz: float = 200e6

    def __init__(self, config: EngineConfig | None = None):
        self.config = config or EngineConfig()
        self.total_cycles = 0
        self.calls = 0
        self.log: list[CallRecord] = []

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

    def _count(self, cycles: int, record: CallRecord | None = None) -> int:
        self.total_cycles += cycles
        self.calls += 1
        if record is not None:
            self.log.append(record)
        return cycles

    def trace(self, path: str | os.PathLike):
        """A context manager dumping a waveform of the calls inside it (RTL only)."""
        raise WinnowDeviceError(f"device {self.kind.value!r} has no waveforms; use "
                                f"{DeviceKind.RTL.value!r} to trace a layer")

    def close(self) -> None:  # noqa: B027 - optional hook, nothing to release on the emulator
        """Release the device (a no-op for the emulator)."""


class EmuDevice(Device):
    """The ``hls`` golden model; cycles from the ``hls`` cycle model (``plan_conv``/``plan_gemm``)."""

    kind = DeviceKind.EMU

    def __init__(self, config: EngineConfig | None = None):
        super().__init__(config)
        self._weights: list[golden.PreparedWeights] = []
        self._plans: dict[tuple, tuple[int, int, int]] = {}  # key -> (cycles, mac, runs)

    def load_conv_weights(self, w, w_zero_point=None) -> WeightHandle:
        # wino=None: the emulator picks its exact algorithm per call (same int32 as the engine's)
        pw = golden.prepare_weights(w, w_zero_point, None)
        self._weights.append(pw)
        return WeightHandle(len(self._weights) - 1, pw.k, pw.c)

    def conv(self, x, weights, x_zero_point=None, pads=(0, 0, 0, 0)) -> Result:
        if not isinstance(weights, WeightHandle) or not 0 <= weights.index < len(self._weights):
            raise WinnowDeviceError(f"{weights!r} is not a weight handle of this device")
        pw = self._weights[weights.index]
        y = emuconv.conv2d(x, pw, x_zero_point, pads)  # golden, or exact direct f32
        n, c, h, w = x.shape
        key = ("conv", n, c, h, w, pw.k, tuple(int(p) for p in pads))
        if key not in self._plans:
            plan = plan_conv(ConvLayer(n, c, h, w, pw.k, key[-1]), self.config)
            self._plans[key] = (plan.cycles, plan.mac_active_cycles, len(plan.passes))
        cyc, mac, runs = self._plans[key]
        layer_macs = n * pw.k * c * 9 * y.shape[2] * y.shape[3]
        return Result(y, self._count(cyc, CallRecord("conv", cyc, cyc, mac, runs=runs)),
                      layer_macs)

    def gemm(self, a, b, a_zero_point=None, b_zero_point=None) -> Result:
        y = golden.gemm(a, b, a_zero_point, b_zero_point)
        m, kd, n = a.shape[-2], a.shape[-1], b.shape[-1]
        batches = math.prod(y.shape[:-2])
        key = ("gemm", m, kd, n)
        if key not in self._plans:
            plan = plan_gemm(GemmLayer(m, kd, n), self.config)
            self._plans[key] = (plan.cycles, plan.mac_active_cycles, len(plan.passes))
        cyc, mac, runs = (batches * v for v in self._plans[key])
        return Result(y, self._count(cyc, CallRecord("gemm", cyc, cyc, mac, runs=runs)),
                      batches * m * kd * n)


class RtlDevice(Device):
    """The generated engine on the virtual board, driven register by register.

    Every call is cut into engine runs by :mod:`winnow.hls.plan` and executed
    by :class:`~.runs.LayerRunner` through :class:`~.driver.Driver`; cycles are
    the engine's own counters (CYCLES, MAC, STALL), summed over the runs.

    * ``board``: an open :class:`~.vboard.board.VirtualBoard` (default: one
      built for ``config``, with read latency ``config.mem_latency``).
    * ``clock_hz``: the engine clock used to state simulated time.
    * ``trace``: build the waveform-capable variant, needed by :meth:`trace`.
    """

    kind = DeviceKind.RTL

    def __init__(self, config: EngineConfig | None = None, *, board=None,
                 clock_hz: float = 200e6, trace: bool = False, read_latency: int | None = None,
                 timeout_cycles: int | None = None):
        super().__init__(config)
        from .driver import Driver
        from .runs import LayerRunner
        from .vboard.board import VirtualBoard

        self.clock_hz = float(clock_hz)
        self.board = board if board is not None else VirtualBoard(
            self.config, trace=trace, read_latency=read_latency)
        self.driver = Driver(self.board, self.config,
                             **({} if timeout_cycles is None else {"timeout_cycles": timeout_cycles}))
        self.driver.check_identity()
        self.runner = LayerRunner(self.driver, self.board, self.config)
        self._weights: list = []

    def load_conv_weights(self, w, w_zero_point=None) -> WeightHandle:
        w = np.asarray(w)
        if w.ndim != 4 or w.shape[2:] != (3, 3):
            raise WinnowDeviceError(f"conv weights must be [K, C, 3, 3], not {w.shape}")
        self._weights.append(self.runner.load_conv(w, w_zero_point))
        return WeightHandle(len(self._weights) - 1, w.shape[0], w.shape[1])

    def _record(self, kind: str, records) -> CallRecord:
        return CallRecord(kind, sum(r.counters.cycles for r in records),
                          sum(r.model_cycles for r in records),
                          sum(r.counters.mac for r in records),
                          sum(r.counters.stall for r in records), len(records), measured=True)

    def conv(self, x, weights, x_zero_point=None, pads=(0, 0, 0, 0)) -> Result:
        if not isinstance(weights, WeightHandle) or not 0 <= weights.index < len(self._weights):
            raise WinnowDeviceError(f"{weights!r} is not a weight handle of this device")
        x = np.asarray(x)
        y, records = self.runner.conv(x, self._weights[weights.index], x_zero_point, pads)
        rec = self._record("conv", records)
        macs = x.shape[0] * weights.k * weights.c * 9 * y.shape[2] * y.shape[3]
        return Result(y, self._count(rec.cycles, rec), macs)

    def gemm(self, a, b, a_zero_point=None, b_zero_point=None) -> Result:
        a, b = np.asarray(a), np.asarray(b)
        y, records = self.runner.gemm(a, b, a_zero_point, b_zero_point)
        rec = self._record("gemm", records)
        return Result(y, self._count(rec.cycles, rec), math.prod(y.shape) * a.shape[-1])

    @contextlib.contextmanager
    def trace(self, path: str | os.PathLike):
        """VCD waveform of the engine (all ports and internal signals) for the calls inside."""
        self.board.trace(path)
        try:
            yield path
        finally:
            self.board.trace_close()

    def close(self) -> None:
        self.board.close()


def open_device(kind: DeviceKind | str = DeviceKind.EMU,
                config: EngineConfig | None = None, **options) -> Device:
    """A device of ``kind`` (``"emu"``/``"rtl"`` are converted to the enum here, once).

    ``options`` go to the device (``RtlDevice``: ``clock_hz``, ``trace``,
    ``read_latency``, ``timeout_cycles``, ``board``).
    """
    kind = DeviceKind.parse(kind)
    if kind is DeviceKind.EMU:
        if options:
            raise WinnowDeviceError(f"device 'emu' takes no options, got {sorted(options)}")
        return EmuDevice(config)
    return RtlDevice(config, **options)
