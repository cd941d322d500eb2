"""Input transform ``V = Bᵀ d B`` of one tile per cycle, pipelined in two register stages."""

from __future__ import annotations

from amaranth.hdl import Module, Mux
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


class InputTransform(wiring.Component):
    """Stream of ``n x n`` input tiles ``d`` in, stream of ``V = Bᵀ d B`` out.

    Parameters: ``config`` (:class:`~winnow.hls.config.EngineConfig`, default
    ``EngineConfig()``); ``n``, ``Bᵀ`` and every width come from it.

    Ports
    -----
    ``i``: ``In(stream.Signature(ArrayLayout(signed(widths["d"].bits), n*n)))``,
        ``d`` row-major (element ``r*n + c`` is ``d[r, c]``).
    ``o``: ``Out(stream.Signature(ArrayLayout(signed(widths["v"].bits), n*n)))``,
        ``V`` row-major.

    Contract: every element of ``d`` lies in ``[widths["d"].lo, widths["d"].hi]``
    (the zero-point-subtracted range, ``[-255, 255]``); then ``V`` is exact.
    (``-256`` fits the port but can overflow ``V``.)

    Timing: the row pass ``Bᵀ d`` is registered (``widths["v_rows"]`` bits),
    then the column pass into ``o.payload``. Latency :attr:`latency` = 2 cycles
    from the ``i`` transfer to ``o.valid``; throughput 1 tile per cycle while
    ``o.ready`` is high. Back-pressure: the pipe holds when ``o.ready`` is low
    and empty stages still fill; ``i.ready`` depends combinationally on
    ``o.ready`` (no skid buffer).
    """

    latency = 2

    def __init__(self, config=None, bypass: bool = False):
        self.config = check_config(self, config)
        self.n = self.config.wino.n
        self.has_bypass = bool(bypass)
        w = self.config.widths
        ports = {
            "i": In(stream.Signature(tile_layout(w["d"].bits, self.n * self.n))),
            "o": Out(stream.Signature(tile_layout(w["v"].bits, self.n * self.n))),
        }
        if self.has_bypass:
            ports["bypass"] = In(1)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        n, bt, w = self.n, self.config.wino.BT, self.config.widths
        rows = lambda d: flat(left_mul(bt, as_grid(d, n, n)))  # noqa: E731
        cols = lambda vr: flat(right_mul_t(as_grid(vr, n, n), bt))  # noqa: E731
        if self.has_bypass:
            row_pass, col_pass = rows, cols
            rows = lambda d: [Mux(self.bypass, x, y)  # noqa: E731
                              for x, y in zip([d[k] for k in range(n * n)], row_pass(d), strict=True)]
            cols = lambda vr: [Mux(self.bypass, x, y)  # noqa: E731
                               for x, y in zip([vr[k] for k in range(n * n)], col_pass(vr), strict=True)]
        stages = [(tile_layout(w["v_rows"].bits, n * n), rows), (tile_layout(w["v"].bits, n * n), cols)]
        register_pipeline(m, self.i, self.o, stages, "itx")
        return m
