"""Tiling planner and analytic cycle model.

How the engine computes a layer (the RTL implements exactly this schedule):

* **Conv mode.** A layer is cut into *passes*; one pass is one image, one
  chunk of at most ``max_channels`` input channels, one column strip that
  fits the line buffer, and one group of at most ``pes`` output channels.
  Within a pass the engine walks the strip's tile rows ("bands") top to
  bottom; for each tile it broadcasts the transformed input tile ``V`` of
  every channel, one channel per cycle, to all PEs, each of which multiplies
  by its own ``U`` and accumulates. After the last channel each PE emits its
  ``M`` to the output transform. So the compute of a pass takes
  ``bands * tiles_per_band * channels`` cycles and keeps all
  ``16 * pes`` multipliers busy, except in the idle lanes of a partial
  output-channel group.
* The weight buffer is double-buffered (the next group's ``U`` loads while
  the current group computes), and so is the line buffer (``m + 2`` rows in
  use, ``m`` more loading), so a pass is limited by the slowest of compute,
  memory reads (inputs + weights, AXI read channel) and memory writes
  (outputs, AXI write channel), plus a start-up cost when the pipeline is
  first filled.
* Channel chunks after the first accumulate onto the int32 partial output
  in memory (read-modify-write); the in-engine requantizer is then used only
  when the layer fits one chunk.
* **GEMM mode** (``A[M, Kd] @ B[Kd, N]``): the same loop with 16 rows of
  ``A`` in place of a tile's 16 positions, ``Kd`` in place of channels and
  columns of ``B`` in place of output channels; no transforms.

All quantities are in engine clock cycles; bytes move at ``bus_bytes`` per
cycle per AXI direction. The RTL is tested against :func:`Plan.cycles`
within 5%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .config import EngineConfig
from .errors import WinnowParameterError
from .regmap import Mode
from .widths import int_range

#: Bytes per element in memory: activations int8; transformed weights int16
#: (U needs 12 bits); raw outputs int32, requantized outputs int8.
ACT_BYTES, U_BYTES, RAW_BYTES, Q_BYTES = 1, 2, 4, 1
#: Pipeline depth from the first input tile to the first output word (cycles):
#: input transform 2, multiply 1, accumulate 1, output transform 3, requant 2.
PIPELINE_DEPTH = 9


@dataclass(frozen=True)
class ConvLayer:
    """A 3x3 stride-1 conv layer: ``x[n, c, h, w] -> y[n, k, ho, wo]`` with ONNX pads."""

    n: int
    c: int
    h: int
    w: int
    k: int
    pads: tuple[int, int, int, int] = (1, 1, 1, 1)
    requant: bool = False

    def __post_init__(self) -> None:
        for name in ("n", "c", "h", "w", "k"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise WinnowParameterError(f"conv layer {name} must be a positive integer, not {v!r}")
        p = tuple(self.pads)
        if len(p) != 4 or any(not isinstance(v, int) or v < 0 for v in p):
            raise WinnowParameterError(
                f"pads must be four non-negative integers (top, left, bottom, right), not {self.pads!r}")
        if self.ho < 1 or self.wo < 1:
            raise WinnowParameterError(
                f"input {self.h}x{self.w} with pads {p} is smaller than the 3x3 kernel")

    @property
    def ho(self) -> int:
        return self.h + self.pads[0] + self.pads[2] - 2

    @property
    def wo(self) -> int:
        return self.w + self.pads[1] + self.pads[3] - 2

    @property
    def macs(self) -> int:
        """Direct-convolution multiply-accumulates (2 ops each)."""
        return self.n * self.k * self.c * 9 * self.ho * self.wo


@dataclass(frozen=True)
class GemmLayer:
    """``A[m, kd] @ B[kd, n]`` (int8 x int8 -> int32)."""

    m: int
    kd: int
    n: int
    requant: bool = False

    def __post_init__(self) -> None:
        for name in ("m", "kd", "n"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise WinnowParameterError(f"GEMM {name} must be a positive integer, not {v!r}")

    @property
    def macs(self) -> int:
        return self.m * self.kd * self.n


@dataclass(frozen=True)
class Pass:
    """One engine run over a block of the layer (ranges are half-open)."""

    image: int
    channels: tuple[int, int]  # input channels (conv) / inner dimension (GEMM)
    outputs: tuple[int, int]  # output channels (conv) / columns of B (GEMM)
    cols: tuple[int, int]  # output columns (conv) / rows of A (GEMM)
    accumulate: bool  # add onto the int32 partial result already in memory
    compute: int  # cycles with the multipliers fed
    read_bytes: int
    write_bytes: int
    active_lanes: int  # PEs doing useful work in this pass

    def cycles(self, cfg: EngineConfig) -> int:
        return max(self.compute, math.ceil(self.read_bytes / cfg.bus_bytes),
                   math.ceil(self.write_bytes / cfg.bus_bytes))


@dataclass(frozen=True)
class Plan:
    """A layer cut into passes, and its cycle estimate for ``config``."""

    layer: ConvLayer | GemmLayer
    config: EngineConfig
    mode: Mode
    passes: tuple[Pass, ...]
    startup: int  # cycles before the first multiply and after the last one
    requant_on_engine: bool
    notes: tuple[str, ...] = field(default=())

    @property
    def cycles(self) -> int:
        return self.startup + sum(p.cycles(self.config) for p in self.passes)

    @property
    def mac_active_cycles(self) -> int:
        """Cycles in which the multipliers are fed (the engine's MAC-active counter)."""
        return sum(p.compute for p in self.passes)

    @property
    def utilization(self) -> float:
        """Useful direct-conv-equivalent work over the engine's peak, 0..1."""
        return self.mac_active_cycles / self.cycles if self.cycles else 0.0

    @property
    def ideal_cycles(self) -> int:
        """Cycles with every multiplier busy on useful Winograd/GEMM products."""
        if self.mode is Mode.CONV:
            lay = self.layer
            m = self.config.m
            tiles = lay.n * math.ceil(lay.ho / m) * math.ceil(lay.wo / m)
            return math.ceil(tiles * lay.c * lay.k / self.config.pes)
        lay = self.layer
        return math.ceil(math.ceil(lay.m / self.config.positions) * lay.kd * lay.n / self.config.pes)

    def seconds(self, clock_hz: float = 200e6) -> float:
        return self.cycles / clock_hz

    def effective_gops(self, clock_hz: float = 200e6) -> float:
        """Direct-convolution ops (2 per MAC) per second at ``clock_hz``, in GOPS."""
        return 2 * self.layer.macs / self.seconds(clock_hz) / 1e9

    def summary(self) -> dict:
        return {"mode": self.mode.name.lower(), "passes": len(self.passes), "cycles": self.cycles,
                "ideal_cycles": self.ideal_cycles, "mac_active_cycles": self.mac_active_cycles,
                "utilization": round(self.utilization, 4),
                "requant_on_engine": self.requant_on_engine, "notes": list(self.notes)}


def _chunks(total: int, size: int) -> list[tuple[int, int]]:
    return [(s, min(s + size, total)) for s in range(0, total, size)]


def max_gemm_depth(cfg: EngineConfig) -> int:
    """Largest inner dimension per GEMM pass whose sums fit the accumulators."""
    acc_lo, acc_hi = int_range(cfg.widths["acc"].bits)
    worst = 255 * 255  # (a - a_zp) * (b - b_zp), both in [-255, 255]
    return min(-acc_lo, acc_hi) // worst


def strip_tiles(cfg: EngineConfig, channels: int) -> int:
    """Tiles per band that fit the line buffer for ``channels`` channels (double-buffered rows)."""
    m = cfg.m
    rows = 2 * m + 2  # m + 2 rows in use, m more loading
    cols = cfg.line_buffer_bytes // (rows * channels * ACT_BYTES)
    return (cols - 2) // m


def plan_conv(layer: ConvLayer, cfg: EngineConfig | None = None) -> Plan:
    """Cut a conv layer into passes and estimate its cycles."""
    cfg = cfg or EngineConfig()
    m, p = cfg.m, cfg.pes
    chunks = _chunks(layer.c, cfg.max_channels)
    notes = []
    if len(chunks) > 1:
        notes.append(f"C={layer.c} > max_channels={cfg.max_channels}: {len(chunks)} channel "
                     "chunks accumulate in int32; requantization on the host")
    requant_on_engine = layer.requant and len(chunks) == 1
    th = math.ceil(layer.ho / m)
    tw_total = math.ceil(layer.wo / m)
    passes = []
    for img in range(layer.n):
        for ci, (c0, c1) in enumerate(chunks):
            cc = c1 - c0
            tws = max(1, strip_tiles(cfg, cc))
            strips = _chunks(tw_total, tws)
            if len(strips) > 1 and img == 0 and ci == 0:
                notes.append(f"{len(strips)} column strips of {tws} tiles fit the line buffer")
            for s0, s1 in strips:
                cols = (s0 * m, min(s1 * m, layer.wo))
                in_cols = min(layer.w + layer.pads[1], cols[1] + 2) - max(0, cols[0] - layer.pads[1])
                in_bytes = layer.h * max(in_cols, 0) * cc * ACT_BYTES
                out_bytes_px = Q_BYTES if requant_on_engine else RAW_BYTES
                for k0, k1 in _chunks(layer.k, p):
                    kg = k1 - k0
                    out_px = kg * layer.ho * (cols[1] - cols[0])
                    read = in_bytes + kg * cc * cfg.positions * U_BYTES
                    write = out_px * out_bytes_px
                    if ci > 0:
                        read += out_px * RAW_BYTES
                    passes.append(Pass(img, (c0, c1), (k0, k1), cols, ci > 0,
                                       th * (s1 - s0) * cc, read, write, kg))
    # Before the first multiply: the first group's weights and the first m + 2 input rows.
    first = passes[0]
    first_rows = (m + 2) * (first.cols[1] - first.cols[0] + 2) * (first.channels[1] - first.channels[0])
    first_u = (first.outputs[1] - first.outputs[0]) * (first.channels[1] - first.channels[0])
    first_bytes = first_rows * ACT_BYTES + first_u * cfg.positions * U_BYTES
    # After the last one: the pipeline drains and the last write is acknowledged.
    startup = (cfg.mem_latency + math.ceil(first_bytes / cfg.bus_bytes)
               + PIPELINE_DEPTH + cfg.mem_latency)
    return Plan(layer, cfg, Mode.CONV, tuple(passes), startup, requant_on_engine, tuple(notes))


def plan_gemm(layer: GemmLayer, cfg: EngineConfig | None = None) -> Plan:
    """Cut ``A[m, kd] @ B[kd, n]`` into passes and estimate its cycles."""
    cfg = cfg or EngineConfig()
    depth = min(max_gemm_depth(cfg), cfg.max_channels)
    chunks = _chunks(layer.kd, depth)
    rows_per_pass = cfg.positions * max(1, cfg.line_buffer_bytes // (2 * cfg.positions * depth))
    passes = []
    notes = []
    if len(chunks) > 1:
        notes.append(f"inner dimension {layer.kd} split into {len(chunks)} chunks of <= {depth}")
    requant_on_engine = layer.requant and len(chunks) == 1
    for ci, (c0, c1) in enumerate(chunks):
        kc = c1 - c0
        for r0, r1 in _chunks(layer.m, rows_per_pass):
            groups = math.ceil((r1 - r0) / cfg.positions)
            for n0, n1 in _chunks(layer.n, cfg.pes):
                out = (r1 - r0) * (n1 - n0)
                read = (r1 - r0) * kc * ACT_BYTES + kc * (n1 - n0) * ACT_BYTES
                write = out * (Q_BYTES if requant_on_engine else RAW_BYTES)
                if ci > 0:
                    read += out * RAW_BYTES
                passes.append(Pass(0, (c0, c1), (n0, n1), (r0, r1), ci > 0, groups * kc,
                                   read, write, n1 - n0))
    startup = 2 * cfg.mem_latency + PIPELINE_DEPTH
    return Plan(layer, cfg, Mode.GEMM, tuple(passes), startup, requant_on_engine, tuple(notes))

