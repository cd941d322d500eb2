"""Output transform ``Y = (Aᵀ M A) / divisor``, pipelined in three register stages."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ._util import (
    as_grid,
    check_config,
    flat,
    left_mul,
    register_pipeline,
    right_mul_t,
    tile_layout,
)


def split_divisor(divisor: int) -> tuple[int, int]:
    """``divisor = odd << shift``: returns ``(shift, odd)``."""
    shift = (divisor & -divisor).bit_length() - 1
    return shift, divisor >> shift


class OutputTransform(wiring.Component):
    """Stream of accumulated Winograd-domain tiles ``M`` in, ``m x m`` outputs out.

    Parameters: ``config`` (:class:`~winnow.hls.config.EngineConfig`, default
    ``EngineConfig()``); ``n``, ``m``, ``Aᵀ``, the divisor and every width
    come from it.

    Ports
    -----
    ``i``: ``In(stream.Signature(ArrayLayout(signed(widths["acc"].bits), n*n)))``,
        ``M`` row-major.
    ``o``: ``Out(stream.Signature(ArrayLayout(signed(widths["out"].bits), m*m)))``,
        ``Y`` row-major.

    Contract: ``M`` is a reachable accumulation, i.e. ``sum_c U_c ⊙ V_c`` over
    at most ``config.max_channels`` channels of in-range weights and data (what
    :class:`~winnow.rtl.pe.WinogradPE` produces). Then ``Aᵀ M`` and ``Aᵀ M A``
    fit ``widths["y_rows"]``/``widths["y"]`` (the stage registers are exactly
    that wide), ``Aᵀ M A`` is a multiple of ``divisor`` and ``Y`` is exact.

    Division: ``divisor = odd·2**shift``. The ``2**shift`` part is an
    arithmetic right shift (floor division, so for F(2x2,3x3), divisor 4, the
    result is ``floor((Aᵀ M A) / 4)`` for *any* M whose stages fit). An odd
    part (F(4x4,3x3): 576 = 9·64) is divided exactly by multiplying with its
    inverse modulo ``2**widths["out"].bits``, which is correct only for exact
    multiples, as the contract guarantees.

    Timing: registers after ``Aᵀ M`` (y_rows), after ``(Aᵀ M) A`` (y), and
    after the division (``o.payload``). Latency :attr:`latency` = 3 cycles,
    throughput 1 tile per cycle; back-pressure as in
    :class:`~winnow.rtl.input_transform.InputTransform`.
    """

    latency = 3

    def __init__(self, config=None):
        self.config = check_config(self, config)
        wino = self.config.wino
        self.n, self.m = wino.n, wino.m
        self.shift, self.odd = split_divisor(wino.divisor)
        w = self.config.widths
        super().__init__({
            "i": In(stream.Signature(tile_layout(w["acc"].bits, self.n * self.n))),
            "o": Out(stream.Signature(tile_layout(w["out"].bits, self.m * self.m))),
        })

    def _divide(self, y):
        """``y / divisor`` as a Value (only the low ``out`` bits are meaningful)."""
        q = y >> self.shift
        if self.odd == 1:
            return q
        bits = self.config.widths["out"].bits
        inverse = pow(self.odd, -1, 1 << bits)
        return q[:bits] * inverse  # low `bits` bits are q / odd (mod 2**bits)

    def elaborate(self, platform):
        mod = Module()
        n, m, at, w = self.n, self.m, self.config.wino.AT, self.config.widths
        stages = [
            (tile_layout(w["y_rows"].bits, m * n),
             lambda acc: flat(left_mul(at, as_grid(acc, n, n)))),
            (tile_layout(w["y"].bits, m * m),
             lambda yr: flat(right_mul_t(as_grid(yr, m, n), at))),
            (tile_layout(w["out"].bits, m * m),
             lambda y: [self._divide(y[k]) for k in range(m * m)]),
        ]
        register_pipeline(mod, self.i, self.o, stages, "otx")
        return mod
