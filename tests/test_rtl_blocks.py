"""Amaranth-simulator tests of the datapath blocks against the hls golden functions.

Every block is driven through its streams with random input gaps and random
output back-pressure; results are compared with ``IntegerWinograd``'s
transforms (and ``sum_c U_c ⊙ V_c`` for the PE), on seeded random vectors and
on the widths analysis' witnesses, which reach each stage's extreme exactly.
Seed: ``WINNOW_SEED`` (printed, and named in every failure message).
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Fragment
from rtl_lint import DATAPATH_WAIVERS, check_lint, lint_problems
from sim_streams import SEED, rng_for, run_streams
from winnow.hls.config import EngineConfig
from winnow.hls.errors import WinnowParameterError
from winnow.rtl.input_transform import InputTransform
from winnow.rtl.output_transform import OutputTransform
from winnow.rtl.pe import WinogradPE

CFG = EngineConfig()
CFG4 = EngineConfig(m=4)
SMALL = EngineConfig(max_channels=6)  # accumulator extremes reachable in 6 channels


def output_values(run) -> np.ndarray:
    """The outputs of ``run`` as one row of element values each."""
    return np.array([list(payload) for payload in run.outputs])


def random_tiles(rng, cfg, count):
    d = cfg.widths["d"]
    return rng.integers(d.lo, d.hi + 1, size=(count, cfg.wino.n, cfg.wino.n))


def random_filters(rng, cfg, count):
    lo, hi = cfg.weight_range
    return rng.integers(lo, hi + 1, size=(count, 3, 3))


def witnesses(cfg, stages):
    """The (g, d) witness pairs reaching the extremes of ``stages``."""
    out = []
    for s in stages:
        out += [cfg.widths[s].witness_lo, cfg.widths[s].witness_hi]
    return out


# --- InputTransform ---------------------------------------------------------------------

def input_tiles(cfg, rng, count):
    n, d = cfg.wino.n, cfg.widths["d"]
    extremes = [np.full((n, n), d.lo), np.full((n, n), d.hi),
                np.indices((n, n)).sum(0) % 2 * (d.hi - d.lo) + d.lo]
    extremes += [w[1] for w in witnesses(cfg, ("v_rows", "v"))]
    return np.array(extremes + list(random_tiles(rng, cfg, count)))


@pytest.mark.parametrize("cfg,count", [(CFG, 120), (CFG4, 25)], ids=["F2", "F4"])
def test_input_transform(cfg, count):
    rng = rng_for(f"input_transform_m{cfg.m}")
    tiles = input_tiles(cfg, rng, count)
    run = run_streams(InputTransform(cfg), [t.reshape(-1).tolist() for t in tiles],
                      len(tiles), rng)
    got = output_values(run)
    want = cfg.wino.input_transform(tiles).reshape(len(tiles), -1)
    np.testing.assert_array_equal(got, want, err_msg=f"seed {SEED}")
    v = cfg.widths["v"]
    assert (got.min(), got.max()) == (v.lo, v.hi)  # the witnesses reached both extremes


# --- WinogradPE --------------------------------------------------------------------------

def pe_sums(cfg, rng, count, max_c):
    """``count`` sums of random length in [1, max_c], then the witnesses' extreme sums."""
    wino, sums = cfg.wino, []
    for _ in range(count):
        c = int(rng.integers(1, max_c + 1))
        sums.append((random_filters(rng, cfg, c), random_tiles(rng, cfg, c)))
    for g, d in witnesses(cfg, ("product", "acc")):
        c = cfg.max_channels
        sums.append((np.repeat(g[None], c, 0), np.repeat(d[None], c, 0)))
    items, want = [], []
    for g, d in sums:
        u, v = wino.weight_transform(g), wino.input_transform(d)
        want.append((u * v).sum(0).reshape(-1))
        for c in range(len(g)):
            items.append({"v": v[c].reshape(-1).tolist(), "u": u[c].reshape(-1).tolist(),
                          "first": int(c == 0), "last": int(c == len(g) - 1)})
    return items, np.array(want)


@pytest.mark.parametrize("cfg,count,max_c,stall", [
    (SMALL, 60, 4, 0.3), (SMALL, 40, 2, 0.7), (CFG4, 8, 3, 0.3)], ids=["F2", "F2-stall", "F4"])
def test_pe(cfg, count, max_c, stall):
    rng = rng_for(f"pe_m{cfg.m}_{stall}")
    items, want = pe_sums(cfg, rng, count, max_c)
    run = run_streams(WinogradPE(cfg), items, len(want), rng, stall=stall)
    got = output_values(run)
    np.testing.assert_array_equal(got, want, err_msg=f"seed {SEED}")
    acc = cfg.widths["acc"]
    assert (got.min(), got.max()) == (acc.lo, acc.hi)


# --- OutputTransform ---------------------------------------------------------------------

def output_tiles(cfg, rng, count, max_c=8):
    """Reachable accumulations M: random sums, then the y_rows/y/out witnesses over C channels."""
    wino, ms = cfg.wino, []
    for _ in range(count):
        c = int(rng.integers(1, max_c + 1))
        u = wino.weight_transform(random_filters(rng, cfg, c))
        ms.append((u * wino.input_transform(random_tiles(rng, cfg, c))).sum(0))
    for g, d in witnesses(cfg, ("acc", "y_rows", "y", "out")):
        ms.append(cfg.max_channels * wino.weight_transform(g) * wino.input_transform(d))
    return np.array(ms)


@pytest.mark.parametrize("cfg,count", [(CFG, 120), (CFG4, 25)], ids=["F2", "F4"])
def test_output_transform(cfg, count):
    rng = rng_for(f"output_transform_m{cfg.m}")
    ms = output_tiles(cfg, rng, count)
    run = run_streams(OutputTransform(cfg), [t.reshape(-1).tolist() for t in ms], len(ms), rng)
    got = output_values(run)
    y = cfg.wino.output_transform(ms).reshape(len(ms), -1)
    assert not np.any(y % cfg.wino.divisor)
    np.testing.assert_array_equal(got, y // cfg.wino.divisor, err_msg=f"seed {SEED}")
    out = cfg.widths["out"]
    assert (got.min(), got.max()) == (out.lo, out.hi)


# --- latency and throughput --------------------------------------------------------------

@pytest.mark.parametrize("block", [InputTransform, OutputTransform, WinogradPE])
def test_latency_and_throughput(block):
    """Without gaps or back-pressure: one result per cycle, ``latency`` cycles after its input."""
    rng = rng_for(f"latency_{block.__name__}")
    dut = block(CFG)
    if block is WinogradPE:
        items, want = pe_sums(CFG, rng, 20, 1)  # C = 1: every channel is a whole sum
        items, want = items[:20], want[:20]
    else:
        tiles = input_tiles(CFG, rng, 20) if block is InputTransform else output_tiles(CFG, rng, 20)
        items, want = [t.reshape(-1).tolist() for t in tiles], tiles
    run = run_streams(dut, items, len(want), rng, gap=0, stall=0)
    assert run.in_cycles == list(range(len(items)))
    assert run.out_cycles == [c + block.latency for c in run.in_cycles]


# --- parameters ------------------------------------------------------------------------

@pytest.mark.parametrize("block", [InputTransform, OutputTransform, WinogradPE])
def test_bad_config(block):
    with pytest.raises(WinnowParameterError,
                       match=rf"^{block.__name__} config must be a winnow.hls.config.EngineConfig, "
                             r"not 'F\(2x2,3x3\)'$"):
        block("F(2x2,3x3)")


def test_default_config():
    for block in (InputTransform, OutputTransform, WinogradPE):
        dut = block()
        Fragment.get(dut, None)  # elaborates (and marks as used)
        assert dut.config == EngineConfig()


# --- Verilog + Verilator lint ----------------------------------------------------------

@pytest.mark.parametrize("cfg", [CFG, CFG4], ids=["F2", "F4"])
@pytest.mark.parametrize("block", [InputTransform, OutputTransform, WinogradPE])
def test_verilog_lint(block, cfg, tmp_path):
    name = f"{block.__name__.lower()}_m{cfg.m}"
    text = verilog.convert(block(cfg), name=name, emit_src=False, strip_internal_attrs=True)
    assert text == verilog.convert(block(cfg), name=name, emit_src=False,
                                   strip_internal_attrs=True)  # reproducible
    path = tmp_path / f"{name}.v"
    path.write_text(text)
    check_lint(path, DATAPATH_WAIVERS, top=name)


def test_lint_filter_keeps_port_warnings():
    text = "module top(a, b);\nendmodule\n"
    err = ("%Warning-UNUSEDSIGNAL: top.v:1:2: Bits of signal are not used: 'a'[3]\n"
           "%Warning-UNUSEDSIGNAL: top.v:5:2: Signal is not used: 'a[1]'\n"
           "%Warning-PROCASSINIT: top.v:6:2: Procedural assignment to declaration: 'r'\n"
           "%Warning-LATCH: top.v:7:2: Latch inferred for signal 'q'\n")
    problems = lint_problems(text, err, DATAPATH_WAIVERS)
    assert [p.split(":")[0] for p in problems] == ["UNUSEDSIGNAL", "LATCH"]
