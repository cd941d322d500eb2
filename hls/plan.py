"""Tiling planner and analytic cycle model of the engine RTL.

How the engine computes one *run* (one descriptor; :mod:`winnow.rtl.core`):
for each group of ``pes`` output channels, for each band of tile rows, for
each tile, for each input channel, one transformed input tile enters all PEs
(one cycle). Meanwhile the row loader streams input rows into an 8-row ring
(re-reading the input for every group), the weight loader fills the other
slot of the double-buffered weight buffer with the next group's ``U``, and
the writer sends one output pixel's channel group per write request.

A layer is cut into runs when it does not fit one: channel chunks of at most
``max_channels`` (the host adds the int32 partial results, and requantizes),
column strips whose input rows fit the line buffer
(:mod:`winnow.hls.line_geometry`), and one run per image. GEMM
``A[M, Kd] @ B[Kd, N]`` is a run on an image of width 4 and height
``roundup(M, 16) / 4`` with ``Kd`` channels (stride 4, no transforms).

Cycle model of a run (engine clock cycles; ``L = mem_latency``, AXI data
``bus_bytes`` per cycle per direction)::

    per group  = max(tiles * C + bands + 1,           # issue: a channel per cycle, a bubble per band
                     tiles * BLOCK_CYCLES,            # output blocks, two in flight
                     H * row_beats + w_beats,         # read channel: rows + next weights
                     pixels * write_beats)            # write channel
    run        = CHECK + L + first_beats + sum(per group) + TAIL

``first_beats`` are the weights of the first group and the rows of the
first band, which arrive before the first tile can issue; ``TAIL`` is the
pipeline after the last tile plus the last write response. The RTL tests
compare measured cycles with :attr:`Plan.cycles` within 5%.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .config import EngineConfig
from .errors import WinnowParameterError
from .layout import (
    GEMM_ROWS,
    GEMM_WIDTH,
    Q_BYTES,
    RAW_BYTES,
    U_VECTOR_BYTES,
    requant_group_bytes,
    roundup,
)
from .line_geometry import RING_ROWS, max_input_width, words_per_pixel
from .regmap import Mode
from .widths import int_range

#: H, W and K are below 2**SIZE_BITS (the descriptor check rejects larger ones).
SIZE_BITS = 16
#: The descriptor check's products (row and group sizes, tiles, address extents) run on a
#: sequential shift-and-add multiplier: MUL_STEPS products, MUL_BITS multiplier bits each
#: (a size up to W + 2 pads), one bit per cycle after a load cycle, MUL_RESULT_BITS wide.
MUL_STEPS = 11
MUL_BITS = SIZE_BITS + 1
MUL_RESULT_BITS = 52


def div_cycles(pes: int) -> int:
    """Cycles of the sequential division K / pes (none when pes is a power of two)."""
    return 0 if pes & (pes - 1) == 0 else SIZE_BITS + 1


def check_cycles(cfg: EngineConfig) -> int:
    """Descriptor check before the first request: five check states, the division, the products."""
    return 5 + div_cycles(cfg.pes) + MUL_STEPS * (MUL_BITS + 1)


#: The PEs never stall: a tile's last channel joins only while fewer than two output blocks
#: are between the join and the writer, and a block takes 12 cycles from its last channel to
#: its last pixel (PE 3, output transform 3, hold and shift buffers, 4 pixels), so a tile
#: takes at least 6 cycles (it matters for C < 6 only).
BLOCK_CYCLES = 6

#: After the last tile is issued: issue 1, gather 4, tile FIFO 1, input transform 2, join 1, PE 3,
#: output transform 3, serializer (one block), writer 12, FIFOs 2, AXI write + B.
TAIL_CYCLES = 34


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
    """One engine run (one descriptor); ranges are half-open."""

    image: int
    channels: tuple[int, int]  # input channels (GEMM: inner dimension)
    cols: tuple[int, int]  # output columns of this strip (GEMM: all)
    accumulate: bool  # the host adds this run's int32 result onto the previous chunk's
    h: int  # input rows of the run (GEMM: image rows = roundup(M, 16) / 4)
    w: int  # input columns of the run (with the strip's halo; GEMM: 4)
    pads: tuple[int, int, int, int]
    k: int
    mode: Mode
    requant: bool

    @property
    def c(self) -> int:
        return self.channels[1] - self.channels[0]

    def geometry(self) -> tuple[int, int, int, int]:
        """``(ho, wo, th, tw)``: output size and tile grid of the run."""
        if self.mode is Mode.GEMM:
            return self.h, 4, self.h // 4, 1
        pt, pl, pb, pr = self.pads
        ho, wo = self.h + pt + pb - 2, self.w + pl + pr - 2
        return ho, wo, -(-ho // 2), -(-wo // 2)

    def groups(self, cfg: EngineConfig) -> int:
        return -(-self.k // cfg.pes)

    def compute(self, cfg: EngineConfig) -> int:
        """Cycles with a channel entering the PEs (the MAC-active counter)."""
        _, _, th, tw = self.geometry()
        return self.groups(cfg) * th * tw * self.c

    def cycles(self, cfg: EngineConfig) -> int:
        b, p = cfg.bus_bytes, cfg.pes
        ho, wo, th, tw = self.geometry()
        row_beats = self.w * words_per_pixel(cfg, self.c)
        w_beats = self.c * p * U_VECTOR_BYTES // b
        q_beats = requant_group_bytes(p, b) // b if self.requant else 0
        elem = Q_BYTES if self.requant else RAW_BYTES
        write_beats = -(-(p * elem) // b)
        per_group = max(th * tw * self.c + th + 1, th * tw * BLOCK_CYCLES,
                        self.h * row_beats + w_beats + q_beats,
                        ho * wo * write_beats)
        # Before the first tile: the first group's weights, and the rows the loader
        # fetches meanwhile (bursts alternate between the two read clients).
        first_rows = min(self.h, 4 if self.mode is Mode.GEMM else 4 - self.pads[0])
        row_burst = min(row_beats, cfg.max_burst)
        row_bursts_ahead = min(self.h, RING_ROWS) * -(-row_beats // cfg.max_burst)
        w_bursts = -(-w_beats // cfg.max_burst)
        first = max(w_beats + q_beats + min(w_bursts, row_bursts_ahead) * row_burst,
                    first_rows * row_beats + min(w_bursts, first_rows) * cfg.max_burst)
        return check_cycles(cfg) + cfg.mem_latency + first + self.groups(cfg) * per_group + TAIL_CYCLES


@dataclass(frozen=True)
class Plan:
    """A layer cut into engine runs, and its cycle estimate for ``config``."""

    layer: ConvLayer | GemmLayer
    config: EngineConfig
    mode: Mode
    passes: tuple[Pass, ...]
    requant_on_engine: bool
    notes: tuple[str, ...] = field(default=())

    @property
    def cycles(self) -> int:
        return sum(p.cycles(self.config) for p in self.passes)

    @property
    def mac_active_cycles(self) -> int:
        """Cycles in which the multipliers are fed (the engine's MAC-active counter)."""
        return sum(p.compute(self.config) for p in self.passes)

    @property
    def utilization(self) -> float:
        """MAC-active cycles over all cycles, 0..1 (what the engine's counters measure)."""
        return self.mac_active_cycles / self.cycles if self.cycles else 0.0

    @property
    def ideal_cycles(self) -> int:
        """Cycles with every multiplier busy on useful Winograd/GEMM products."""
        lay = self.layer
        if self.mode is Mode.CONV:
            tiles = lay.n * math.ceil(lay.ho / 2) * math.ceil(lay.wo / 2)
            return math.ceil(tiles * lay.c * lay.k / self.config.pes)
        return math.ceil(math.ceil(lay.m / GEMM_ROWS) * lay.kd * lay.n / self.config.pes)

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
    """Largest inner dimension per GEMM run whose sums fit the accumulators."""
    acc_lo, acc_hi = int_range(cfg.widths["acc"].bits)
    worst = 255 * 255  # (a - a_zp) * (b - b_zp), both in [-255, 255]
    return min(-acc_lo, acc_hi) // worst


def plan_conv(layer: ConvLayer, cfg: EngineConfig | None = None) -> Plan:
    """Cut a conv layer into engine runs and estimate its cycles."""
    cfg = cfg or EngineConfig()
    chunks = _chunks(layer.c, cfg.max_channels)
    notes = []
    if len(chunks) > 1:
        notes.append(f"C={layer.c} > max_channels={cfg.max_channels}: {len(chunks)} channel "
                     "chunks, int32 partial sums added and requantized on the host")
    requant_on_engine = layer.requant and len(chunks) == 1
    pt, pl, pb, pr = layer.pads
    passes = []
    for img in range(layer.n):
        for ci, (c0, c1) in enumerate(chunks):
            # Output columns per strip: the strip's input (cols + 2 halo) must fit.
            in_max = max_input_width(cfg, c1 - c0)
            if in_max < 3:
                raise WinnowParameterError(
                    f"{c1 - c0} channels do not fit the line buffer even 3 pixels wide")
            per_strip = layer.wo if layer.w + pl + pr <= in_max else 2 * ((in_max - 2) // 2)
            strips = _chunks(layer.wo, max(per_strip, 1))
            if len(strips) > 1 and img == 0 and ci == 0:
                notes.append(f"{len(strips)} column strips of <= {per_strip} output columns "
                             "fit the line buffer")
            for o0, o1 in strips:
                x0, x1 = o0 - pl, o1 + 2 - pl  # input columns of the strip, padded coordinates
                spl, spr = max(0, -x0), max(0, x1 - layer.w)
                w_in = min(x1, layer.w) - max(x0, 0)
                passes.append(Pass(img, (c0, c1), (o0, o1), ci > 0, layer.h, w_in,
                                   (pt, spl, pb, spr), layer.k, Mode.CONV, requant_on_engine))
    return Plan(layer, cfg, Mode.CONV, tuple(passes), requant_on_engine, tuple(notes))


def plan_gemm(layer: GemmLayer, cfg: EngineConfig | None = None) -> Plan:
    """Cut ``A[m, kd] @ B[kd, n]`` into engine runs and estimate its cycles."""
    cfg = cfg or EngineConfig()
    depth = min(max_gemm_depth(cfg), cfg.max_channels)
    chunks = _chunks(layer.kd, depth)
    notes = []
    if len(chunks) > 1:
        notes.append(f"inner dimension {layer.kd} split into {len(chunks)} chunks of <= {depth}")
    requant_on_engine = layer.requant and len(chunks) == 1
    rows = roundup(layer.m, GEMM_ROWS) // GEMM_WIDTH
    passes = tuple(Pass(0, (c0, c1), (0, 4), ci > 0, rows, 4, (0, 0, 0, 0), layer.n, Mode.GEMM,
                        requant_on_engine) for ci, (c0, c1) in enumerate(chunks))
    return Plan(layer, cfg, Mode.GEMM, passes, requant_on_engine, tuple(notes))
