"""Tests of the AXI4-Lite register file (``winnow.rtl.regfile``) against a model built from hls.regmap.

* Amaranth simulator: a hand-written AXI4-Lite master presents AW and W in a
  random order (AW first, W first, same cycle) with random gaps and junk
  payloads while idle, and holds BREADY/RREADY low at random, sometimes for
  tens of cycles. A monitor checks every cycle that BVALID/RVALID, once high,
  stay high with a stable payload until taken, and that ``start``/``abort``
  are single-cycle pulses. Reads are compared with :class:`RegFileModel`.
  The driver waits for each response before the next request; a separate
  test sends a second write while a B is held off.
* cocotb + Verilator: cocotbext-axi's ``AxiLiteMaster`` with random pauses on
  all five channels, concurrent reads and writes (marker ``sim``).
* Formal (yowasp-sby + z3, k-induction): the slave never drops or changes a
  pending B/R, answers only accepted requests, one at a time.
* Verilator lint of the generated Verilog with named waivers.

Seed: ``WINNOW_SEED`` (printed, and named in failure messages).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Assert, Fragment, Module, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In
from amaranth.sim import Simulator
from rtl_lint import check_lint, lint_problems, verilator_bin_dir
from sim_streams import SEED, rng_for
from winnow.hls.config import EngineConfig
from winnow.hls.errors import WinnowParameterError
from winnow.hls.regmap import BY_NAME, ENGINE_ID, REGISTERS, VERSION, Access
from winnow.rtl.axi_signatures import AXI4LiteSignature, AXIResp
from winnow.rtl.regfile import RegisterFile, counter_port, desc_port

try:  # the cocotb half of this module also runs inside the simulator, imported by name
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import ClockCycles, RisingEdge
except ImportError:  # pragma: no cover
    cocotb = None

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {
    "default": dict(pes=4, m=2, bus_bytes=16, acc_bits=31, max_channels=512, line_kib=64),
    "wide": dict(pes=255, m=4, bus_bytes=64, acc_bits=40, max_channels=65535, line_kib=1024,
                 addr_width=16),
}


# --- the model: what each access does, from the register map alone ---------------------

COUNTERS = [r.name[:-3] for r in REGISTERS if r.name.endswith("_LO")]
ENGINE_INPUTS = {f.name.lower(): f.width for f in BY_NAME["STATUS"].fields}


def stored_mask(reg) -> int:
    return sum(f.mask for f in reg.fields) if reg.fields else 0xFFFF_FFFF


class RegFileModel:
    """Expected read data/response and write response and pulses of every access."""

    def __init__(self, caps: dict, addr_width: int):
        self.caps, self.addr_width = caps, addr_width
        self.stored = {r.name: r.reset & stored_mask(r) for r in REGISTERS if r.access is Access.RW}
        self.latched = dict.fromkeys(COUNTERS, 0)
        self.inputs = {**dict.fromkeys(ENGINE_INPUTS, 0), **{counter_port(p): 0 for p in COUNTERS}}
        self.by_word = {r.offset >> 2: r for r in REGISTERS}

    def _reg(self, addr):
        return self.by_word.get((addr % (1 << self.addr_width)) >> 2)

    def write(self, addr: int, data: int, strb: int) -> tuple[int, set]:
        """(BRESP, names of the pulses this write causes)."""
        reg = self._reg(addr)
        if reg is None:
            return AXIResp.SLVERR, set()
        lanes = sum(0xFF << (8 * i) for i in range(4) if strb >> i & 1)
        if reg.access is Access.RW:
            old = self.stored[reg.name]
            self.stored[reg.name] = ((old & ~lanes) | (data & lanes)) & stored_mask(reg)
        pulses = set()
        if reg.access is Access.W1S:
            pulses = {f.name.lower() for f in reg.fields if data & lanes & f.mask}
            if self.inputs["busy"]:
                pulses.discard("start")
        return AXIResp.OKAY, pulses

    def read(self, addr: int) -> tuple[int, int]:
        """(RDATA, RRESP); a ``_LO`` read latches its ``_HI`` word."""
        reg = self._reg(addr)
        if reg is None:
            return 0, AXIResp.SLVERR
        prefix, _, half = reg.name.rpartition("_")
        if prefix in COUNTERS:
            value = self.inputs[counter_port(prefix)]
            if half == "LO":
                self.latched[prefix] = value >> 32
                return value & 0xFFFF_FFFF, AXIResp.OKAY
            return self.latched[prefix], AXIResp.OKAY
        if reg.access is Access.RW:
            return self.stored[reg.name], AXIResp.OKAY
        if reg.access is Access.W1S:
            return 0, AXIResp.OKAY
        if reg.name == "STATUS":
            return sum(self.inputs[f.name.lower()] << f.lsb for f in reg.fields), AXIResp.OKAY
        if reg.name.startswith("CAPS"):
            return sum(self.caps[f.name.lower()] << f.lsb for f in reg.fields), AXIResp.OKAY
        return reg.reset, AXIResp.OKAY


def make_dut(config: str) -> tuple[RegisterFile, RegFileModel]:
    params = dict(CONFIGS[config])
    dut = RegisterFile(**params)
    addr_width = params.pop("addr_width", 12)
    return dut, RegFileModel(params, addr_width)


# --- constructor ---------------------------------------------------------------------------

def test_from_config_and_ports():
    cfg = EngineConfig()
    dut = RegisterFile.from_config(cfg)
    assert dut.caps == dict(pes=cfg.pes, m=cfg.m, bus_bytes=cfg.bus_bytes,
                            acc_bits=cfg.widths["acc"].bits, max_channels=cfg.max_channels,
                            line_kib=cfg.line_buffer_bytes // 1024)
    members = dut.signature.members
    assert members["s_axil"] == In(AXI4LiteSignature(addr_width=12))
    for reg in REGISTERS:
        if reg.access is Access.RW:
            assert Value.cast(getattr(dut, desc_port(reg))).shape().width == (
                32 if not reg.fields else max(f.lsb + f.width for f in reg.fields))
    assert {n for n in ("start", "abort", "busy", "done", "error", "cycles", "busy_cycles",
                        "stall_cycles", "mac_cycles")} <= set(members)
    assert dut.desc_pads.top.shape().width == 4
    Fragment.get(dut, None)


@pytest.mark.parametrize("kwargs, message", [
    (dict(pes=0), r"pes must be an integer in \[1, 255\] \(its 8-bit CAPS field\), not 0"),
    (dict(m=16), r"m must be an integer in \[1, 15\] .*not 16"),
    (dict(max_channels=1 << 16), r"max_channels must be an integer in \[1, 65535\].*not 65536"),
    (dict(line_kib=2.5), r"line_kib must be an integer .*not 2.5"),
    (dict(addr_width=7), r"addr_width must be an integer in \[8, 64\] .*not 7"),
])
def test_rejects_bad_parameters(kwargs, message):
    params = {**CONFIGS["default"], **kwargs}
    with pytest.raises(WinnowParameterError, match=message):
        RegisterFile(**params)


# --- Amaranth simulator: hand-driven AXI4-Lite -----------------------------------------------

class AxilDriver:
    """An AXI4-Lite master for the Amaranth simulator with random orderings and back-pressure."""

    TIMEOUT = 500  # cycles any one handshake may take before the test fails

    def __init__(self, ctx, bus, rng, *, stall=0.3, long_stall=0.1):
        self.ctx, self.bus, self.rng = ctx, bus, rng
        self.stall, self.long_stall = stall, long_stall
        self.orders = {"aw_first": 0, "w_first": 0, "same": 0}

    def _junk(self, sig):
        return int(self.rng.integers(0, 1 << len(sig)))

    def _ready_plan(self):
        """Cycles to hold READY low once VALID is seen, then a random pattern."""
        return int(self.rng.integers(10, 40)) if self.rng.random() < self.long_stall else 0

    async def _take(self, valid, ready, payload):
        """Wait for ``valid`` under back-pressure; return the payload as taken."""
        ctx, hold, seen = self.ctx, self._ready_plan(), 0
        for _ in range(self.TIMEOUT):
            go = seen >= hold and self.rng.random() >= self.stall
            ctx.set(ready, go)
            _, _, v, *p = await ctx.tick().sample(valid, *payload)
            if v:
                if go:
                    ctx.set(ready, 0)
                    return p
                seen += 1
        raise AssertionError(f"no {valid.name} within {self.TIMEOUT} cycles (seed {SEED})")

    async def write(self, addr: int, data: int, strb: int = 0xF) -> int:
        ctx, b = self.ctx, self.bus
        aw_at, w_at = (int(x) for x in self.rng.integers(0, 4, size=2))
        self.orders["same" if aw_at == w_at else "aw_first" if aw_at < w_at else "w_first"] += 1
        aw_done = w_done = False
        cycle = 0
        while not (aw_done and w_done):
            assert cycle < self.TIMEOUT, f"AW/W not accepted within {self.TIMEOUT} cycles (seed {SEED})"
            aw_on, w_on = not aw_done and cycle >= aw_at, not w_done and cycle >= w_at
            ctx.set(b.awvalid, aw_on)
            ctx.set(b.awaddr, addr if aw_on else self._junk(b.awaddr))
            ctx.set(b.awprot, self._junk(b.awprot))
            ctx.set(b.wvalid, w_on)
            ctx.set(b.wdata, data if w_on else self._junk(b.wdata))
            ctx.set(b.wstrb, strb if w_on else self._junk(b.wstrb))
            ctx.set(b.bready, self.rng.random() < 0.5)
            _, _, awr, wr, bvalid = await ctx.tick().sample(b.awready, b.wready, b.bvalid)
            assert not bvalid, f"B before its AW and W were accepted (seed {SEED})"
            aw_done |= aw_on and awr
            w_done |= w_on and wr
            cycle += 1
        ctx.set(b.awvalid, 0)
        ctx.set(b.wvalid, 0)
        (bresp,) = await self._take(b.bvalid, b.bready, [b.bresp])
        return bresp

    async def read(self, addr: int) -> tuple[int, int]:
        ctx, b = self.ctx, self.bus
        for _ in range(int(self.rng.integers(0, 3))):
            ctx.set(b.araddr, self._junk(b.araddr))
            await ctx.tick()
        ctx.set(b.araddr, addr)
        ctx.set(b.arprot, self._junk(b.arprot))
        ctx.set(b.arvalid, 1)
        for _ in range(self.TIMEOUT):
            ctx.set(b.rready, self.rng.random() < 0.5)
            _, _, arr, rvalid = await ctx.tick().sample(b.arready, b.rvalid)
            assert not rvalid, f"R before its AR was accepted (seed {SEED})"
            if arr:
                break
        else:
            raise AssertionError(f"AR not accepted within {self.TIMEOUT} cycles (seed {SEED})")
        ctx.set(b.arvalid, 0)
        rdata, rresp = await self._take(b.rvalid, b.rready, [b.rdata, b.rresp])
        return rdata, rresp


class Monitor:
    """Every cycle: B/R hold until taken; pulses last one cycle; counts pulses."""

    def __init__(self, dut):
        self.dut, self.pulses, self.cycles = dut, {"start": 0, "abort": 0}, 0

    async def run(self, ctx):
        b = self.dut.s_axil
        held = {"b": None, "r": None}
        prev = {"start": 0, "abort": 0}
        async for _, _, bv, br, bresp, rv, rr, rdata, rresp, start, abort in ctx.tick().sample(
                b.bvalid, b.bready, b.bresp, b.rvalid, b.rready, b.rdata, b.rresp,
                self.dut.start, self.dut.abort):
            self.cycles += 1
            for ch, (v, r, payload) in {"b": (bv, br, (bresp,)), "r": (rv, rr, (rdata, rresp))}.items():
                if held[ch] is not None:
                    assert v and payload == held[ch], (
                        f"{ch.upper()} changed before ready at cycle {self.cycles} (seed {SEED})")
                held[ch] = payload if v and not r else None
            for name, now in (("start", start), ("abort", abort)):
                assert not (now and prev[name]), f"{name} high two cycles in a row (seed {SEED})"
                self.pulses[name] += now
                prev[name] = now


def simulate(dut, body, *, rng, **driver_kw):
    """Run ``body(ctx, driver, monitor)`` as a testbench with a protocol monitor alongside."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    monitor = Monitor(dut)
    sim.add_process(monitor.run)
    result = {}

    async def bench(ctx):
        driver = AxilDriver(ctx, dut.s_axil, rng, **driver_kw)
        result["driver"] = driver
        await body(ctx, driver, monitor)

    sim.add_testbench(bench)
    sim.run()
    return result["driver"], monitor


def set_inputs(ctx, dut, model, values: dict):
    for name, value in values.items():
        ctx.set(getattr(dut, name), value)
        model.inputs[name] = value


def random_inputs(rng) -> dict:
    values = {name: int(rng.integers(0, 1 << w)) for name, w in ENGINE_INPUTS.items()}
    values.update({counter_port(p): int(rng.integers(0, 1 << 63)) * 2 + int(rng.integers(0, 2))
                   for p in COUNTERS})
    return values


async def check_read(driver, model, addr, what=""):
    got = await driver.read(addr)
    want = model.read(addr)
    assert (int(got[0]), int(got[1])) == (want[0], int(want[1])), (
        f"read 0x{addr:X} {what}: got data 0x{got[0]:08X} resp {got[1]}, "
        f"want 0x{want[0]:08X} resp {int(want[1])} (seed {SEED})")


async def check_write(ctx, dut, driver, model, monitor, addr, data, strb=0xF):
    before = dict(monitor.pulses)
    bresp = await driver.write(addr, data, strb)
    want_resp, want_pulses = model.write(addr, data, strb)
    assert bresp == want_resp, f"write 0x{addr:X}: BRESP {bresp}, want {int(want_resp)} (seed {SEED})"
    await ctx.tick()  # the pulse is registered: it is visible with BVALID at the latest
    got = {n for n in before if monitor.pulses[n] > before[n]}
    assert got == want_pulses, f"write 0x{addr:X}=0x{data:X}: pulses {got}, want {want_pulses}"
    for reg in REGISTERS:
        if reg.access is Access.RW:
            port = ctx.get(Value.cast(getattr(dut, desc_port(reg))))
            assert port == model.stored[reg.name], (
                f"{desc_port(reg)} = 0x{port:X}, want 0x{model.stored[reg.name]:X} (seed {SEED})")


@pytest.mark.parametrize("config", list(CONFIGS))
def test_sim_every_register(config):
    """Reset values, then every register written (full and partial strobes) and read back."""
    rng = rng_for(f"every_register_{config}")
    dut, model = make_dut(config)
    assert model.read(BY_NAME["ID"].offset)[0] == ENGINE_ID
    assert model.read(BY_NAME["VERSION"].offset)[0] == VERSION

    async def body(ctx, drv, mon):
        set_inputs(ctx, dut, model, random_inputs(rng))
        for reg in REGISTERS:  # reset values
            await check_read(drv, model, reg.offset, "after reset")
        for reg in REGISTERS:
            if reg.access is Access.W1S:
                continue
            for strb in (0xF, int(rng.integers(0, 16)), int(rng.integers(0, 16))):
                data = int(rng.integers(0, 1 << 32))
                await check_write(ctx, dut, drv, model, mon, reg.offset + int(rng.integers(0, 4)),
                                  data, strb)
                await check_read(drv, model, reg.offset, f"after writing 0x{data:08X}/{strb:04b}")

    simulate(dut, body, rng=rng)


def test_sim_w1s_pulses_and_busy():
    rng = rng_for("w1s")
    dut, model = make_dut("default")
    ctrl = BY_NAME["CTRL"]
    bits = {f.name: 1 << f.lsb for f in ctrl.fields}

    async def body(ctx, drv, mon):
        cases = [(0, bits["START"], 0xF, {"start"}), (0, bits["ABORT"], 0xF, {"abort"}),
                 (0, bits["START"] | bits["ABORT"], 0xF, {"start", "abort"}),
                 (1, bits["START"], 0xF, set()), (1, bits["START"] | bits["ABORT"], 0xF, {"abort"}),
                 (0, bits["START"], 0xE, set()), (0, 0, 0xF, set()), (0, 0xFFFF_FFFF, 0x1,
                                                                    {"start", "abort"})]
        for busy, data, strb, want in cases:
            set_inputs(ctx, dut, model, {"busy": busy})
            assert model.write(ctrl.offset, data, strb)[1] == want
            await check_write(ctx, dut, drv, model, mon, ctrl.offset, data, strb)
            await check_read(drv, model, ctrl.offset, "(W1S reads 0)")

    simulate(dut, body, rng=rng)


def test_sim_counter_latching():
    """``_HI`` returns the high word sampled by the last ``_LO`` read, not the live one."""
    rng = rng_for("latching")
    dut, model = make_dut("default")

    async def body(ctx, drv, mon):
        for prefix in COUNTERS:
            lo, hi = BY_NAME[prefix + "_LO"], BY_NAME[prefix + "_HI"]
            await check_read(drv, model, hi.offset, "before any _LO read")
            first = int(rng.integers(0, 1 << 62))
            set_inputs(ctx, dut, model, {counter_port(prefix): first})
            await check_read(drv, model, lo.offset)
            set_inputs(ctx, dut, model, {counter_port(prefix): first + (1 << 40)})
            await check_read(drv, model, hi.offset, "after the counter moved")
            assert model.latched[prefix] == first >> 32

    simulate(dut, body, rng=rng)


def test_sim_unmapped_addresses():
    rng = rng_for("unmapped")
    dut, model = make_dut("wide")
    mapped = {r.offset >> 2 for r in REGISTERS}
    holes = [w * 4 for w in range(0x40) if w not in mapped] + [0x800, 0xFFFC, 0x1000]

    async def body(ctx, drv, mon):
        for addr in holes:
            await check_write(ctx, dut, drv, model, mon, addr, 0xFFFF_FFFF)
            await check_read(drv, model, addr + int(rng.integers(0, 4)), "unmapped")
        for reg in REGISTERS:  # nothing else changed
            await check_read(drv, model, reg.offset)

    simulate(dut, body, rng=rng)


def test_sim_second_write_while_b_pending():
    """A second write is taken into the holding registers while B waits; neither B is lost."""
    rng = rng_for("pipelined")
    dut, model = make_dut("default")
    first, second = BY_NAME["DESC_C"].offset, 0x0FC  # OKAY, then SLVERR (unmapped)

    async def body(ctx, drv, mon):
        b = dut.s_axil
        for addr, data in ((first, 0x1234_5678), (second, 0xFFFF_FFFF)):
            ctx.set(b.awaddr, addr)
            ctx.set(b.wdata, data)
            ctx.set(b.wstrb, 0xF)
            ctx.set(b.awvalid, 1)
            ctx.set(b.wvalid, 1)
            await ctx.tick().until(b.awready & b.wready)
            ctx.set(b.awvalid, 0)
            ctx.set(b.wvalid, 0)
            await ctx.tick().until(b.bvalid)  # bready is low: the first B waits
        for _ in range(20):
            _, _, ready = await ctx.tick().sample(b.awready)
            assert not ready, "a third AW was accepted while two writes are in flight"
        resps = []
        ctx.set(b.bready, 1)
        for _ in range(2):
            *_, bresp = await ctx.tick().sample(b.bresp).until(b.bvalid)
            resps.append(int(bresp[0]) if isinstance(bresp, tuple) else int(bresp))
        assert resps == [AXIResp.OKAY, AXIResp.SLVERR], f"B responses {resps} (seed {SEED})"
        assert ctx.get(dut.desc_c) == 0x1234_5678

    simulate(dut, body, rng=rng)


@pytest.mark.parametrize("stall, long_stall", [(0.0, 0.0), (0.5, 0.3), (0.9, 0.5)],
                         ids=["no_backpressure", "some", "heavy"])
def test_sim_random_traffic(stall, long_stall):
    """Random reads and writes anywhere, random engine inputs; every response checked."""
    rng = rng_for(f"random_{stall}_{long_stall}")
    dut, model = make_dut("default")
    addrs = [r.offset for r in REGISTERS] + [0x0FC, 0x100, 0xFFC]

    async def body(ctx, drv, mon):
        for _ in range(150):
            if rng.random() < 0.2:
                set_inputs(ctx, dut, model, random_inputs(rng))
            addr = int(rng.choice(addrs)) + int(rng.integers(0, 4))
            if rng.random() < 0.5:
                await check_write(ctx, dut, drv, model, mon, addr, int(rng.integers(0, 1 << 32)),
                                  int(rng.integers(0, 16)))
            else:
                await check_read(drv, model, addr)
        assert all(drv.orders.values()), f"not every AW/W order was tried: {drv.orders}"

    drv, mon = simulate(dut, body, rng=rng, stall=stall, long_stall=long_stall)
    print(f"{mon.cycles} cycles, orders {drv.orders}, pulses {mon.pulses}")


# --- Verilog, lint -------------------------------------------------------------------------------

def write_verilog(config: str) -> Path:
    """The Verilog of one configuration in ``build/regfile_<config>/regfile.v`` (byte-reproducible)."""
    out = ROOT / "build" / f"regfile_{config}"
    out.mkdir(parents=True, exist_ok=True)
    text = verilog.convert(make_dut(config)[0], name="regfile", emit_src=False, strip_internal_attrs=True)
    path = out / "regfile.v"
    if not path.exists() or path.read_text() != text:  # keep the mtime: Verilator rebuilds less
        path.write_text(text)
    return path


#: Verilator -Wall warnings waived, each with its reason. Everything else fails the lint test.
LINT_WAIVERS = {
    # Amaranth gives every register an initial value (FPGA power-up) besides its reset.
    "PROCASSINIT": "register with both an initial value and a synchronous reset",
    # Yosys splits the address decoder into one process per register; each process first
    # assigns the register its current value, so uncovered addresses keep it (no latch:
    # LATCH is not waived).
    "CASEINCOMPLETE": "per-register decoder process with a default assignment before the case",
    # The field ABORT of CTRL gives the port its name; Verilator renames it in C++ itself.
    "SYMRSVDWORD": "port 'abort' named by the register map",
}
#: Ports, or bits of them, that the register file ignores by design.
UNUSED_PORTS = {
    "s_axil__awprot": "AxPROT is ignored: every access is allowed",
    "s_axil__arprot": "AxPROT is ignored: every access is allowed",
    "s_axil__awaddr": "bits [1:0]: the byte offset within a word (WSTRB selects bytes)",
    "s_axil__araddr": "bits [1:0]: the byte offset within a word",
}


def debug_or_temporary(name: str) -> bool:
    return name.startswith("$") or "." in name


#: What the lint waives: LINT_WAIVERS, UNUSED_PORTS, and UNUSEDSIGNAL for debug wires
#: (Yosys keeps one per layout field, e.g. 'desc_pads.top') and for truncated temporaries
#: ('$46'[31:16]: the WSTRB merge is 32 bits wide, a fielded register stores fewer).
#: (UNUSEDSIGNAL is not in LINT_WAIVERS: the cocotb build turns those off as a whole.)
LINT_RULES = dict(waivers={**LINT_WAIVERS, "UNUSEDSIGNAL": "debug wire or truncated temporary"},
                  unused_ports=UNUSED_PORTS, internal=debug_or_temporary)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_verilog_lint(config):
    path = write_verilog(config)
    assert path.read_text() == verilog.convert(make_dut(config)[0], name="regfile", emit_src=False,
                                               strip_internal_attrs=True), "not reproducible"
    check_lint(path, **LINT_RULES)


def test_lint_filter_keeps_real_warnings():
    text = "module regfile(s_axil__awprot, busy);\nendmodule\n"
    err = ("%Warning-UNUSEDSIGNAL: r.v:1:2: Signal is not used: 'busy'\n"
           "%Warning-UNUSEDSIGNAL: r.v:1:2: Signal is not used: 's_axil__awprot'\n"
           "%Warning-UNUSEDSIGNAL: r.v:9:2: Bits of signal are not used: '$46'[31:16]\n"
           "%Warning-LATCH: r.v:3:4: Latch inferred for signal 'x'\n")
    assert [p.split(":")[0] for p in lint_problems(text, err, **LINT_RULES)] == ["UNUSEDSIGNAL", "LATCH"]


# --- cocotb + Verilator with cocotbext-axi -----------------------------------------------------

@pytest.mark.sim
@pytest.mark.parametrize("config", list(CONFIGS))
def test_cocotb_axil_master(config):
    pytest.importorskip("cocotbext.axi")
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    os.environ["PATH"] = verilator_bin_dir() + os.pathsep + os.environ.get("PATH", "")
    path = write_verilog(config)
    runner = get_runner("verilator")
    build_dir = path.parent / "sim_build"
    runner.build(sources=[path], hdl_toplevel="regfile", build_dir=build_dir,
                 build_args=["-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", *(f"-Wno-{w}" for w in LINT_WAIVERS)])
    caps = dict(CONFIGS[config])
    results = runner.test(hdl_toplevel="regfile", hdl_toplevel_lang="verilog",
                          test_module="test_rtl_regfile", test_dir=build_dir,
                          build_dir=build_dir, results_xml=str(build_dir / "results.xml"),
                          extra_env={"WINNOW_SEED": str(SEED), "REGFILE_CONFIG": json.dumps(caps),
                                     "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])})
    tests, failed = get_results(Path(results))
    assert tests >= 1 and failed == 0, f"{failed} of {tests} cocotb tests failed (seed {SEED})"


if cocotb is not None:

    def _pauses(rng, p):
        while True:
            yield bool(rng.random() < p)

    @cocotb.test(timeout_time=100, timeout_unit="us")
    async def cocotb_regfile_traffic(dut):
        """Every register through AxiLiteMaster with random pauses; reads overlap writes."""
        from cocotbext.axi import AxiLiteBus, AxiLiteMaster

        params = json.loads(os.environ["REGFILE_CONFIG"])
        addr_width = params.pop("addr_width", 12)
        model = RegFileModel(params, addr_width)
        rng = np.random.default_rng([SEED, 7])
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        master = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil_"), dut.clk, dut.rst)
        dut._log.info("AXI4-Lite: %d address bits, %d data bits",
                      len(dut.s_axil__awaddr), len(dut.s_axil__wdata))
        assert len(dut.s_axil__awaddr) == addr_width
        for i, ch in enumerate((master.write_if.aw_channel, master.write_if.w_channel,
                                master.write_if.b_channel, master.read_if.ar_channel,
                                master.read_if.r_channel)):
            ch.set_pause_generator(_pauses(np.random.default_rng([SEED, i]), 0.4))
        inputs = random_inputs(rng)
        for name, value in inputs.items():
            getattr(dut, name).value = value
            model.inputs[name] = value
        dut.rst.value = 1
        await ClockCycles(dut.clk, 4)
        dut.rst.value = 0
        await ClockCycles(dut.clk, 2)

        pulses = {"start": 0, "abort": 0}

        async def count_pulses():
            while True:
                await RisingEdge(dut.clk)
                for name in pulses:
                    pulses[name] += int(getattr(dut, name).value)

        cocotb.start_soon(count_pulses())

        async def read_check(addr):
            got = await master.read(addr, 4)
            want, resp = model.read(addr)
            assert (int.from_bytes(got.data, "little"), int(got.resp)) == (want, int(resp)), (
                f"read 0x{addr:X}: got {got}, want 0x{want:08X}/{int(resp)} (seed {SEED})")

        # Reads of read-only registers run while the writes below are in flight.
        ro = [r.offset for r in REGISTERS if r.access is Access.RO and not r.name.endswith("_HI")
              and not r.name.endswith("_LO")]
        readers = [cocotb.start_soon(read_check(a)) for a in ro * 3]
        rw = [r for r in REGISTERS if r.access is Access.RW]
        writes, want_pulses = [], {"start": 0, "abort": 0}
        for reg in rng.permutation(np.array(rw, dtype=object)):
            data = int(rng.integers(0, 1 << 32))
            writes.append(cocotb.start_soon(master.write(reg.offset, data.to_bytes(4, "little"))))
            model.write(reg.offset, data, 0xF)
            byte = int(rng.integers(0, 4))  # a one-byte write: WSTRB with one lane
            value = int(rng.integers(0, 256))
            writes.append(cocotb.start_soon(master.write(reg.offset + byte, bytes([value]))))
            model.write(reg.offset + byte, value << (8 * byte), 1 << byte)
        ctrl = BY_NAME["CTRL"].offset
        for data in (1, 2, 3):
            writes.append(cocotb.start_soon(master.write(ctrl, data.to_bytes(4, "little"))))
            for name in model.write(ctrl, data, 0xF)[1]:
                want_pulses[name] += 1
        for task in writes:
            resp = await task
            assert int(resp.resp) == AXIResp.OKAY, f"write 0x{resp.address:X}: {resp} (seed {SEED})"
        for task in readers:
            await task
        for reg in REGISTERS:
            await read_check(reg.offset)
        for reg in rw:
            assert getattr(dut, desc_port(reg)).value.to_unsigned() == model.stored[reg.name]
        assert pulses == want_pulses, f"pulses {pulses}, want {want_pulses}"

        for prefix in COUNTERS:  # _LO latches _HI
            await read_check(BY_NAME[prefix + "_LO"].offset)
            port = counter_port(prefix)
            getattr(dut, port).value = model.inputs[port] = (model.inputs[port] + (3 << 32)) % (1 << 64)
            await read_check(BY_NAME[prefix + "_HI"].offset)
        for addr in (0x018, 0x0A0, (1 << addr_width) - 4):  # unmapped: SLVERR both ways
            resp = await master.write(addr, b"\xff\xff\xff\xff")
            assert int(resp.resp) == AXIResp.SLVERR
            await read_check(addr)


# --- formal: AXI4-Lite slave handshake rules ----------------------------------------------------

#: k-induction depth; the base case also checks every trace of this many cycles from reset.
FORMAL_DEPTH = 6


class SlaveChecker(wiring.Component):
    """The register file with every input free and the AXI rules of :mod:`formal_axil`."""

    def __init__(self, dut: RegisterFile):
        self.dut = dut
        members = {"s_axil": In(AXI4LiteSignature(addr_width=dut.addr_width))}
        members.update({n: In(v.shape) for n, v in dut.signature.members.items()
                        if n != "s_axil" and v.flow is wiring.In})
        super().__init__(members)

    def elaborate(self, platform):
        from formal_axil import axi_rules, response_accounting

        m = Module()
        m.submodules.dut = dut = self.dut
        wiring.connect(m, wiring.flipped(self.s_axil), dut.s_axil)
        for name in self.signature.members:
            if name != "s_axil":
                m.d.comb += getattr(dut, name).eq(getattr(self, name))
        axi_rules(m, dut.s_axil, dut.s_axil.signature.channels(), role="slave")
        # One write may wait in the AW/W holding registers while the previous B is pending.
        aw, w, ar = response_accounting(m, dut.s_axil, role="slave", max_outstanding=2)
        # Strengthening for k-induction, from ports only: a held AW (W) shows as awready
        # (wready) low, and every request counted is held or waiting for its response.
        bus = dut.s_axil
        m.d.comb += [
            Assert(aw == (~bus.awready).as_unsigned() + bus.bvalid, "AW count"),
            Assert(w == (~bus.wready).as_unsigned() + bus.bvalid, "W count"),
            Assert(ar == bus.rvalid, "AR count"),
        ]
        return m


def test_formal_axil_slave_rules():
    from formal_axil import HAVE_SBY, WHY_NO_SBY, run_sby

    if not HAVE_SBY:
        pytest.skip(WHY_NO_SBY)
    workdir = ROOT / "build" / "formal_regfile"
    log = run_sby(SlaveChecker(make_dut("default")[0]), str(workdir), mode="prove", depth=FORMAL_DEPTH)
    assert "DONE (PASS" in log
