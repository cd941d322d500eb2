"""The engine configuration: one frozen object from which every width and size derives."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .errors import WinnowParameterError
from .transforms import IntegerWinograd, integer_winograd
from .widths import DatapathWidths, analyze


def _positive(name: str, v, lo: int = 1, hi: int | None = None) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < lo or (hi is not None and v > hi):
        bound = f"an integer >= {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
        raise WinnowParameterError(f"{name} must be {bound}, not {v!r}")


@dataclass(frozen=True)
class EngineConfig:
    """Parameters of one engine build.

    * ``pes``: Winograd PEs; each computes one output channel with ``n*n`` (16)
      multipliers, so the engine has ``16 * pes`` multipliers.
    * ``max_channels``: input channels accumulated in one pass (weight-buffer
      depth); larger layers are split into channel chunks by the planner.
    * ``line_buffer_bytes``: input line-buffer capacity; the planner cuts wide
      layers into column strips that fit.
    * ``bus_bytes``: AXI4 data width in bytes; ``max_burst`` the longest AXI
      burst (beats); ``mem_latency`` the cycles from a read request to its first
      beat (cycle model only: a property of the memory, not of the engine).
    * Activations are 8-bit (signed or unsigned) with an 8-bit zero point,
      subtracted in the engine, so the datapath sees ``[-255, 255]``; weights
      arrive pre-transformed, from ``w - w_zp`` in ``[-128, 127]``.
    """

    pes: int = 4
    max_channels: int = 512
    line_buffer_bytes: int = 64 * 1024
    bus_bytes: int = 16
    mem_latency: int = 24
    max_burst: int = 64
    m: int = 2

    def __post_init__(self) -> None:
        _positive("pes", self.pes, 1, 64)
        _positive("max_channels", self.max_channels, 1, 4096)
        _positive("line_buffer_bytes", self.line_buffer_bytes, 1024)
        _positive("mem_latency", self.mem_latency, 0)
        _positive("max_burst", self.max_burst, 1, 256)
        if self.bus_bytes not in (4, 8, 16, 32, 64):
            raise WinnowParameterError(
                f"bus_bytes must be one of 4, 8, 16, 32, 64 (AXI data width), not {self.bus_bytes!r}")
        if self.m not in (2, 4):
            raise WinnowParameterError(f"m must be 2 (F(2x2,3x3)) or 4 (F(4x4,3x3)), not {self.m!r}")
        # The 8-row ring must hold 4 pixels of max_channels (see line_geometry).
        words = -(-self.max_channels // self.bus_bytes)
        min_line = 16 * self.bus_bytes * 2 * words
        if self.line_buffer_bytes < min_line:
            raise WinnowParameterError(
                f"line_buffer_bytes={self.line_buffer_bytes} cannot hold one tile column of "
                f"{self.max_channels} channels; need at least {min_line}")

    data_range = (-255, 255)
    weight_range = (-128, 127)

    @property
    def wino(self) -> IntegerWinograd:
        return integer_winograd(self.m, 3)

    @property
    def positions(self) -> int:
        """Multipliers per PE: one per Winograd-domain tile position."""
        return self.wino.n ** 2

    @property
    def multipliers(self) -> int:
        return self.positions * self.pes

    @cached_property
    def widths(self) -> DatapathWidths:
        """Exact stage widths at ``max_channels``: the RTL sizes its datapath from these."""
        return analyze(self.wino, self.data_range, self.weight_range, self.max_channels)
