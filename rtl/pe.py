"""One Winograd PE: ``n*n`` multipliers and accumulators, ``M = sum_c U_c ⊙ V_c``."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ._util import check_config, tile_layout


def pe_input_layout(config) -> data.StructLayout:
    """The PE's input payload: ``v``, ``u`` (row-major ``n*n`` vectors), ``first``, ``last``."""
    w, nn = config.widths, config.positions
    return data.StructLayout({
        "v": tile_layout(w["v"].bits, nn),
        "u": tile_layout(w["u"].bits, nn),
        "first": 1,
        "last": 1,
    })


class WinogradPE(wiring.Component):
    """Elementwise multiply-accumulate over input channels for one output channel.

    Parameters: ``config`` (:class:`~winnow.hls.config.EngineConfig`, default
    ``EngineConfig()``); ``n*n`` and every width come from it.

    Ports
    -----
    ``i``: ``In(stream.Signature(pe_input_layout(config)))``, one input channel
        per transfer: ``v`` (``n*n`` × ``widths["v"].bits``), ``u`` (``n*n`` ×
        ``widths["u"].bits``), ``first`` (this channel starts a new sum) and
        ``last`` (this channel ends it: emit the sum). A single-channel sum has
        both set.
    ``o``: ``Out(stream.Signature(ArrayLayout(signed(widths["acc"].bits), n*n)))``,
        the finished ``M = sum_c U_c ⊙ V_c``, one transfer per ``last``.

    Contract: elements of ``v``/``u`` lie in the ``v``/``u`` stage ranges of
    ``config.widths`` and at most ``config.max_channels`` channels are summed
    (between ``first`` and ``last``); then products and sums are exact.
    ``first`` on the first channel is required (after reset the accumulators
    are 0, but a sum that does not start with ``first`` adds to the previous one).

    Timing: stage 0 registers the operands; stage 1 registers the ``n*n``
    products (``widths["product"]`` bits); stage 2 adds them to the accumulators
    and, for ``last``, writes the sums into the output register ``o.payload``.
    Nothing combinational runs into a multiplier, from a multiplier to the
    accumulators or from the accumulators to ``o``.
    Latency :attr:`latency` = 3 cycles from the transfer of a ``last`` channel
    to ``o.valid``; throughput 1 channel per cycle, so one ``M`` per ``C``
    cycles (every cycle for ``C`` = 1) while ``o`` is drained.

    Back-pressure: ``o`` holds one result. While it is full and not accepted,
    a ``last`` product waiting in stage 1 is held (its sum would overwrite the
    result), which holds ``i``; non-``last`` channels keep accumulating, so
    nothing is lost and nothing stalls needlessly. ``i.ready`` depends
    combinationally on ``o.ready``.
    """

    latency = 3

    def __init__(self, config=None):
        self.config = check_config(self, config)
        self.positions = self.config.positions
        w = self.config.widths
        super().__init__({
            "i": In(stream.Signature(pe_input_layout(self.config))),
            "o": Out(stream.Signature(tile_layout(w["acc"].bits, self.positions))),
        })

    def elaborate(self, platform):
        m = Module()
        w, nn = self.config.widths, self.positions
        prod = Signal(tile_layout(w["product"].bits, nn))
        p_valid, p_first, p_last = Signal(), Signal(), Signal()
        acc = Signal(tile_layout(w["acc"].bits, nn))

        # Stage 2 consumes the product unless it is a `last` and the result is still unread.
        consume, mul_ready = Signal(), Signal()
        operands = Signal(pe_input_layout(self.config))
        o_valid = Signal()
        m.d.comb += [
            consume.eq(p_valid & ~(p_last & self.o.valid & ~self.o.ready)),
            mul_ready.eq(~p_valid | consume),
            self.i.ready.eq(~o_valid | mul_ready),
        ]

        # Stage 0: the operands into registers (the multipliers' inputs come from flip-flops,
        # not from the weight memory or the input transform).
        with m.If(self.i.ready):
            m.d.sync += o_valid.eq(self.i.valid)
            with m.If(self.i.valid):
                m.d.sync += operands.eq(self.i.payload)

        # Stage 1: n*n multipliers into the product register.
        with m.If(mul_ready):
            m.d.sync += p_valid.eq(o_valid)
            with m.If(o_valid):
                m.d.sync += [prod[k].eq(operands.v[k] * operands.u[k]) for k in range(nn)]
                m.d.sync += [p_first.eq(operands.first), p_last.eq(operands.last)]

        # Stage 2: accumulate; a `last` sum also goes to the output register.
        sums = [Mux(p_first, 0, acc[k]) + prod[k] for k in range(nn)]
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(consume):
            m.d.sync += [acc[k].eq(sums[k]) for k in range(nn)]
            with m.If(p_last):
                m.d.sync += self.o.valid.eq(1)
                m.d.sync += [self.o.payload[k].eq(sums[k]) for k in range(nn)]
        return m
