"""Formal proofs (yowasp-sby + z3) that the transform blocks compute exactly their matrices.

A checker wraps the block with free inputs: input payload and valid, output
ready, reset, and a free ``choose`` bit that tags one input transfer. A
scoreboard counts the transfers still ahead of the tagged one; when the tagged
tile leaves, its output is asserted equal to the matrix expression of the
captured input, written directly from ``hls`` (``Bᵀ d B`` element by element,
not through the block's row/column structure). Inputs are assumed to satisfy
the block's contract (in-range elements of ``d``; for the output transform,
``Aᵀ M`` and ``Aᵀ M A`` in the ranges ``hls`` derives). The checker also
asserts that a stalled output holds its payload and that at most ``latency``
tiles are in flight.

Bounded model checks, shallow by necessity (z3's time grows steeply with
depth): the unmarked tests cover every input value with the tagged tile
leaving by cycle 3 (input transform: with up to one cycle of gap or stall;
output transform, latency 3: without); the ``slow`` ones go deeper. Random
gaps and back-pressure over long runs are covered by ``test_rtl_blocks.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Assert, Assume, Cat, Const, Cover, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In
from formal_axil import needs_sby, run_sby
from winnow.hls.config import EngineConfig
from winnow.rtl.input_transform import InputTransform
from winnow.rtl.output_transform import OutputTransform

pytestmark = needs_sby
#: Every check is a bounded model check and a cover (the tagged tile's check is reachable).
MODES = ("bmc", "cover")


def all_of(conds):
    return Cat(*conds).all()


class Checker(wiring.Component):
    """The block under test with free stream inputs, a one-tile scoreboard and the spec.

    ``spec(inp, out)`` returns the Values that must all be true when the tagged
    input ``inp`` leaves as ``out``; ``contract(inp)`` those assumed of every input.
    """

    def __init__(self, dut, spec, contract):
        self.dut, self.spec, self.contract = dut, spec, contract
        super().__init__({
            "i_valid": In(1), "i_payload": In(dut.i.payload.shape()),
            "o_ready": In(1), "choose": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        m.d.comb += [dut.i.valid.eq(self.i_valid), dut.i.payload.eq(self.i_payload),
                     dut.o.ready.eq(self.o_ready)]
        contract = self.contract(self.i_payload)
        if contract:
            m.d.comb += Assume(all_of(contract))
        i_fire, o_fire = dut.i.valid & dut.i.ready, dut.o.valid & dut.o.ready

        inflight = Signal(range(dut.latency + 2))
        m.d.sync += inflight.eq(inflight + i_fire - o_fire)
        m.d.comb += Assert(inflight <= dut.latency)

        tagged, done = Signal(), Signal()
        ahead = Signal(range(dut.latency + 2))
        shadow = Signal.like(self.i_payload)
        with m.If(i_fire & self.choose & ~tagged):
            m.d.sync += [tagged.eq(1), shadow.eq(self.i_payload), ahead.eq(inflight - o_fire)]
        with m.If(tagged & ~done & o_fire):
            with m.If(ahead == 0):
                m.d.comb += Assert(all_of(self.spec(shadow, dut.o.payload)))
                m.d.comb += Cover(1)  # the check is reachable (not vacuous)
                m.d.sync += done.eq(1)
            with m.Else():
                m.d.sync += ahead.eq(ahead - 1)

        stalled = Signal()
        held = Signal.like(dut.o.payload)
        m.d.sync += [stalled.eq(dut.o.valid & ~dut.o.ready), held.eq(dut.o.payload)]
        with m.If(stalled):
            m.d.comb += Assert(dut.o.valid & (dut.o.payload.as_value() == held.as_value()))
        return m


def linear(coefs, xs):
    """``sum(c * x)`` at full width (Amaranth widens; nothing is truncated)."""
    return sum((int(c) * x for c, x in zip(coefs, xs, strict=True) if c),
               start=Const(0, signed(2)))


def matrix_product(left: np.ndarray, view, rows: int, cols: int, right: np.ndarray):
    """``left @ X @ right.T`` (row pass first, as ``hls`` computes it) for row-major X."""
    x = [[view[i * cols + j] for j in range(cols)] for i in range(rows)]
    row_pass = [[linear(row, [x[k][j] for k in range(rows)]) for j in range(cols)]
                for row in left]
    return row_pass, [linear(row, r) for r in row_pass for row in right]


def input_transform_checker(cfg):
    n, bt, d = cfg.wino.n, cfg.wino.BT, cfg.widths["d"]

    def spec(inp, out):
        _, want = matrix_product(bt, inp, n, n, bt)
        return [out[k] == want[k] for k in range(n * n)]

    def contract(inp):
        return [(inp[k] >= d.lo) & (inp[k] <= d.hi) for k in range(n * n)]

    return Checker(InputTransform(cfg), spec, contract)


def output_transform_checker(cfg):
    """Contract: the exact ``Aᵀ M`` and ``Aᵀ M A`` lie in the y_rows/y ranges of ``hls``.

    (Checking every M modulo ``2**out_bits`` instead, without the contract,
    did not finish in 10 minutes with z3.)
    """
    wino, w = cfg.wino, cfg.widths
    n, m, div = wino.n, wino.m, wino.divisor
    if div & (div - 1):
        raise NotImplementedError("the floor-division spec below needs a power-of-two divisor")
    shift = div.bit_length() - 1

    def spec(inp, out):  # floor(y / 2**shift) is y's arithmetic right shift
        _, y = matrix_product(wino.AT, inp, n, n, wino.AT)
        return [out[k] == y[k] >> shift for k in range(m * m)]

    def contract(inp):
        y_rows, y = matrix_product(wino.AT, inp, n, n, wino.AT)
        conds = []
        for stage, values in (("y_rows", [v for row in y_rows for v in row]), ("y", y)):
            s = w[stage]
            conds += [(v >= s.lo) & (v <= s.hi) for v in values]
        return conds

    return Checker(OutputTransform(cfg), spec, contract)


CHECKERS = {"input_transform": (input_transform_checker, InputTransform),
            "output_transform": (output_transform_checker, OutputTransform)}
#: BMC depths (cycles): z3's time grows steeply with depth (output transform: ~35 s at 4,
#: ~3 min at 5; input transform: 15 s at 4, minutes at 6).
FAST_DEPTH = {"input_transform": 4, "output_transform": 4}
DEEP_DEPTH = {"input_transform": 6, "output_transform": 5}


@pytest.mark.parametrize("name", CHECKERS)
def test_transform_is_exact_f2(name, tmp_path):
    """Every in-contract input; the tile tagged early enough to leave within the depth."""
    log = run_sby(CHECKERS[name][0](EngineConfig()), tmp_path, mode=MODES, depth=FAST_DEPTH[name])
    assert "DONE (PASS" in log


@pytest.mark.slow
@pytest.mark.parametrize("name", CHECKERS)
def test_transform_is_exact_f2_deep(name, tmp_path):
    """As above with more cycles of gaps, back-pressure and resets before the tile leaves."""
    log = run_sby(CHECKERS[name][0](EngineConfig()), tmp_path, mode=MODES, depth=DEEP_DEPTH[name])
    assert "DONE (PASS" in log
