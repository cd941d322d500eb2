"""Tests of :class:`winnow.rtl.axi_master.AXIMaster`.

* Parameter checks (pure Python) and a Verilator lint of the generated Verilog.
* A formal check (yowasp-sby, z3): AR/AW/W valid and payload hold until ready,
  and every AR/AW burst is at most ``max_burst`` beats and inside one 4 KiB
  page, for every behaviour of the slave and the clients (all inputs free,
  nothing assumed of the slave; reset may strike at any cycle).
* cocotb 2.1 on Verilator (cocotb's Python runner): the master against
  cocotbext-axi's ``AxiRam`` with random pauses on all five channels, three
  read clients and the write client running seeded random requests at once
  (4 KiB crossings, long requests, random byte strobes, random client
  back-pressure); every byte read and written is checked, and a monitor checks
  each AR/AW burst. Without pauses a long read is timed (asserted >= 0.9
  beat/cycle). Reads and writes past the end of the RAM get SLVERR from
  ``AxiRam``: the error reaches the read client's beats and both sticky flags.

The cocotb tests live in this file too (named ``cocotb_*`` so pytest does not
collect them); pytest builds one Verilator model per configuration under
``build/axi_master/<config>/`` and runs them. The AXI port is the harness
member ``m_axi``, i.e. Verilog ``m_axi__awaddr``..., bound with
``AxiBus.from_prefix(dut, "m_axi_")`` (cocotb-bus adds one more ``_``).
Seed: ``WINNOW_SEED`` (printed, and named in failure messages).
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from pathlib import Path

import pytest
from amaranth.back import verilog
from amaranth.hdl import Assert, Cat, Cover, Fragment, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from formal_axil import needs_sby, run_sby
from rtl_lint import check_lint, verilator_bin_dir
from winnow.hls.errors import WinnowParameterError
from winnow.rtl.axi_master import AXIMaster

SEED = int(os.environ.get("WINNOW_SEED", "20250611"))
ROOT = Path(__file__).resolve().parent.parent
PARAMS_ENV = "WINNOW_AXIM_PARAMS"
REPORT_ENV = "WINNOW_AXIM_REPORT"

CONFIGS = {
    "b16_p3": dict(bus_bytes=16, read_ports=3, max_burst=64, max_outstanding=4, id_width=4),
    "b4_p2": dict(bus_bytes=4, read_ports=2, max_burst=16, max_outstanding=2, id_width=1),
}


# --- parameter checks ------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    (dict(bus_bytes=12), "bus_bytes must be a power of two in [4, 64], not 12"),
    (dict(bus_bytes=128), "bus_bytes must be a power of two in [4, 64], not 128"),
    (dict(bus_bytes=True), "bus_bytes must be a power of two in [4, 64], not True"),
    (dict(max_burst=0), "max_burst must be an integer in [1, 256] (AXI4 INCR bursts), not 0"),
    (dict(max_burst=257), "max_burst must be an integer in [1, 256] (AXI4 INCR bursts), not 257"),
    (dict(read_ports=0), "read_ports must be an integer in [1, 16], not 0"),
    (dict(max_outstanding=65), "max_outstanding must be an integer in [1, 64], not 65"),
    (dict(read_ports=5, id_width=2),
     "id_width must be an integer in [3, 16] (ARID must hold client indices up to 4), not 2"),
    (dict(max_burst=4.0), "max_burst must be an integer in [1, 256] (AXI4 INCR bursts), not 4.0"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(WinnowParameterError, match=re.escape("AXIMaster " + message)):
        AXIMaster(**kwargs)


def test_from_config_takes_bus_width():
    from winnow.hls.config import EngineConfig
    dut = AXIMaster.from_config(EngineConfig(bus_bytes=32), read_ports=2)
    assert len(dut.axi.wdata) == 256 and len(dut.rd_data) == 2
    assert len(dut.rd_req[0].payload.len) == 16 and len(dut.axi.araddr) == 32
    Fragment.get(dut, None)  # elaborates (and marks as used)


# --- Verilog and lint --------------------------------------------------------------------

def verilog_text(params: dict, name: str = "axi_master") -> str:
    return verilog.convert(AXIMaster(**params), name=name, emit_src=False,
                           strip_internal_attrs=True)


#: Verilator -Wall warnings waived, each with its reason; anything else fails the lint.
LINT_WAIVERS = {
    # Amaranth gives every register an initial value (FPGA power-up) besides its reset.
    "PROCASSINIT": "register with both an initial value and a reset",
    # Amaranth writes submodules (splitters, FIFOs) into the same file as 'top.sub'.
    "DECLFILENAME": "submodule modules share the top's file",
    # Debug wires kept per layout field and truncated temporaries ('$12'[17]) that
    # nothing reads. Unused bits of top-level ports are only waived in LINT_PORTS.
    "UNUSEDSIGNAL": "debug wire or truncated temporary",
}
#: Top-level input bits the master does not read, on purpose.
LINT_PORTS = {
    "axi__bid": "AWID is always 0: every B response is ours, BID carries nothing",
    "axi__bresp": "bit 0 unread: SLVERR and DECERR both count as errors, EXOKAY as OKAY",
    "axi__rresp": "bit 0 unread: SLVERR and DECERR both count as errors, EXOKAY as OKAY",
}


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_verilog_lint(config, tmp_path):
    text = verilog_text(CONFIGS[config])
    assert text == verilog_text(CONFIGS[config])  # reproducible
    path = tmp_path / "axi_master.v"
    path.write_text(text)
    check_lint(path, LINT_WAIVERS, top="axi_master", unused_ports=LINT_PORTS)


# --- formal: AXI handshake rules -----------------------------------------------------

class ProtocolChecker(wiring.Component):
    """The master with every input a free top-level port, and the master-side AXI rules.

    For AR, AW and W: a valid that was not taken in the previous cycle is
    still high with the same payload (unless reset hit in between, which
    clears the checker's own registers too). For AR and AW: ``len + 1 <=
    max_burst`` and the burst stays inside its 4 KiB page. The splitters'
    invariant (busy: aligned address, beats left) is asserted too, which
    makes the burst-shape checks inductive. Covers show a stall and a
    handshake on each channel (the checks are not vacuous).
    """

    def __init__(self, dut: AXIMaster):
        self.dut = dut
        super().__init__(dut.signature)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        sig = dut.signature
        for (_, member, mine), (_, _, theirs) in zip(sig.flatten(self), sig.flatten(dut), strict=True):
            m.d.comb += theirs.eq(mine) if member.flow == In else mine.eq(theirs)
        axi = dut.axi
        for ch in axi.signature.channels():
            if not ch.from_master:
                continue
            valid, ready = getattr(axi, ch.valid), getattr(axi, ch.ready)
            payload = Cat(getattr(axi, name) for name in ch.payload)
            stalled, held = Signal(name=f"{ch.name}_stalled"), Signal(len(payload), name=f"{ch.name}_held")
            m.d.sync += [stalled.eq(valid & ~ready), held.eq(payload)]
            with m.If(stalled):
                m.d.comb += Assert(valid & (payload == held))
            m.d.comb += [Cover(stalled & ready), Cover(valid & ready)]
        lane_bits = (dut.bus_bytes - 1).bit_length()
        for sp in [*dut.rd_splitters, dut.wr_splitter]:  # strengthening: the splitters' invariant
            with m.If(sp.busy):
                m.d.comb += Assert((sp.left != 0) & (sp.addr[:lane_bits] == 0)
                                   & (sp.to_page_m1 == ~sp.addr[lane_bits:12]))
        for p in ("ar", "aw"):
            addr, len_ = getattr(axi, p + "addr"), getattr(axi, p + "len")
            with m.If(getattr(axi, p + "valid")):
                m.d.comb += [
                    Assert(len_ < dut.max_burst),
                    Assert(addr[:lane_bits] == 0),
                    Assert(addr[lane_bits:12] + len_ < 4096 >> lane_bits),
                ]
        return m


FORMAL = dict(bus_bytes=4, read_ports=2, max_burst=4, max_outstanding=2, id_width=1)


@needs_sby
def test_formal_rules_hold_by_induction(tmp_path):
    """k-induction: the rules hold in every reachable state, not just the first cycles."""
    run_sby(ProtocolChecker(AXIMaster(**FORMAL)), tmp_path, mode="prove", depth=4)


@needs_sby
def test_formal_handshakes_are_exercised(tmp_path):
    """Cover: a stall then a handshake is reachable on AR, AW and W."""
    run_sby(ProtocolChecker(AXIMaster(**FORMAL)), tmp_path, mode="cover", depth=12)


@needs_sby
def test_formal_rules_default_config(tmp_path):
    """k-induction on the default-sized master (128-bit bus, 3 clients, 64-beat bursts)."""
    run_sby(ProtocolChecker(AXIMaster(**CONFIGS["b16_p3"])), tmp_path, mode="prove", depth=4)


# --- cocotb + Verilator + AxiRam ------------------------------------------------------

class Harness(wiring.Component):
    """The master with its client streams as plain Verilog ports and its AXI port as ``m_axi``.

    Client ports: ``rd{i}_req_valid/ready/addr/len``, ``rd{i}_valid/ready/data/last/error``,
    ``wr_req_valid/ready/addr/len``, ``wr_valid/ready/data/strb``; status as in the master.
    """

    def __init__(self, params: dict):
        self.dut = AXIMaster(**params)
        bb, n = self.dut.bus_bytes, self.dut.read_ports
        members = {"m_axi": Out(self.dut.axi.signature)}
        for i in range(n):
            members.update({
                f"rd{i}_req_valid": In(1), f"rd{i}_req_ready": Out(1),
                f"rd{i}_req_addr": In(32), f"rd{i}_req_len": In(16),
                f"rd{i}_valid": Out(1), f"rd{i}_ready": In(1), f"rd{i}_data": Out(8 * bb),
                f"rd{i}_last": Out(1), f"rd{i}_error": Out(1),
            })
        members.update({
            "wr_req_valid": In(1), "wr_req_ready": Out(1), "wr_req_addr": In(32), "wr_req_len": In(16),
            "wr_valid": In(1), "wr_ready": Out(1), "wr_data": In(8 * bb), "wr_strb": In(bb),
            "read_idle": Out(1), "write_idle": Out(1), "read_error": Out(1), "write_error": Out(1),
            "error_clear": In(1),
        })
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.master = dut = self.dut
        wiring.connect(m, wiring.flipped(self.m_axi), dut.axi)
        for i in range(dut.read_ports):
            req, beat = dut.rd_req[i], dut.rd_data[i]
            m.d.comb += [
                req.valid.eq(getattr(self, f"rd{i}_req_valid")),
                req.payload.addr.eq(getattr(self, f"rd{i}_req_addr")),
                req.payload.len.eq(getattr(self, f"rd{i}_req_len")),
                getattr(self, f"rd{i}_req_ready").eq(req.ready),
                getattr(self, f"rd{i}_valid").eq(beat.valid),
                getattr(self, f"rd{i}_data").eq(beat.payload.data),
                getattr(self, f"rd{i}_last").eq(beat.payload.last),
                getattr(self, f"rd{i}_error").eq(beat.payload.error),
                beat.ready.eq(getattr(self, f"rd{i}_ready")),
            ]
        m.d.comb += [
            dut.wr_req.valid.eq(self.wr_req_valid), dut.wr_req.payload.addr.eq(self.wr_req_addr),
            dut.wr_req.payload.len.eq(self.wr_req_len), self.wr_req_ready.eq(dut.wr_req.ready),
            dut.wr_data.valid.eq(self.wr_valid), dut.wr_data.payload.data.eq(self.wr_data),
            dut.wr_data.payload.strb.eq(self.wr_strb), self.wr_ready.eq(dut.wr_data.ready),
            self.read_idle.eq(dut.read_idle), self.write_idle.eq(dut.write_idle),
            self.read_error.eq(dut.read_error), self.write_error.eq(dut.write_error),
            dut.error_clear.eq(self.error_clear),
        ]
        return m


def _sim_run(config: str, testcases: list[str], tmp_path: Path) -> dict:
    """Build (once per configuration) and run the cocotb tests; returns their report."""
    pytest.importorskip("cocotb")
    pytest.importorskip("cocotbext.axi")
    from cocotb_tools.runner import get_runner

    os.environ["PATH"] = verilator_bin_dir() + os.pathsep + os.environ.get("PATH", "")
    build = ROOT / "build" / "axi_master" / config
    build.mkdir(parents=True, exist_ok=True)
    source = build / "axi_master_tb.v"
    text = verilog.convert(Harness(CONFIGS[config]), name="axi_master_tb", emit_src=False,
                           strip_internal_attrs=True)
    if not source.exists() or source.read_text() != text:
        source.write_text(text)
    runner = get_runner("verilator")
    runner.build(sources=[source], hdl_toplevel="axi_master_tb", build_dir=build,
                 build_args=["-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC"])
    report = tmp_path / "report.json"
    print(f"{config}: WINNOW_SEED={SEED}")
    runner.test(test_module="test_rtl_axi_master", hdl_toplevel="axi_master_tb",
                testcase=testcases, build_dir=build, test_dir=tmp_path,
                extra_env={PARAMS_ENV: json.dumps(CONFIGS[config]), REPORT_ENV: str(report),
                           "WINNOW_SEED": str(SEED)})
    results = report.read_text().splitlines() if report.exists() else []
    merged = {}
    for line in results:
        merged.update(json.loads(line))
    print(json.dumps(merged, indent=1))
    return merged


@pytest.mark.sim
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_sim_random_traffic(config, tmp_path):
    start = time.monotonic()
    report = _sim_run(config, ["cocotb_random_traffic", "cocotb_error_responses"], tmp_path)
    assert report["random_traffic"]["read_bytes"] > 0 and report["errors"]["ok"]
    print(f"{config}: {time.monotonic() - start:.1f} s")


@pytest.mark.sim
def test_sim_read_throughput(tmp_path):
    report = _sim_run("b16_p3", ["cocotb_throughput"], tmp_path)
    assert report["throughput"]["read_beats_per_cycle"] >= 0.9


# --- the cocotb side (runs inside the simulator) ---------------------------------------

try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import ClockCycles, RisingEdge
except ImportError:  # pytest without cocotb: the sim tests above skip
    cocotb = None


def _report(key: str, value: dict) -> None:
    with open(os.environ[REPORT_ENV], "a") as f:
        f.write(json.dumps({key: value}) + "\n")


class Bench:
    """Clock, reset, ``AxiRam`` and a cycle counter around the harness."""

    def __init__(self, dut, rng: random.Random, pauses: bool, ram_size: int = 1 << 16,
                 fail_from: int | None = None):
        from cocotbext.axi import AxiBus, AxiRam

        self.dut, self.rng = dut, rng
        self.params = json.loads(os.environ[PARAMS_ENV])
        self.bb, self.n = self.params["bus_bytes"], self.params["read_ports"]
        self.ram = AxiRam(AxiBus.from_prefix(dut, "m_axi_"), dut.clk, dut.rst, size=ram_size)
        for logger in (self.ram.write_if.log, self.ram.read_if.log):
            logger.setLevel("ERROR")
        if fail_from is not None:
            self._fail_from(fail_from)
        if pauses:
            for ch in (self.ram.write_if.aw_channel, self.ram.write_if.w_channel,
                       self.ram.write_if.b_channel, self.ram.read_if.ar_channel,
                       self.ram.read_if.r_channel):
                ch.set_pause_generator(self._pauses(random.Random(rng.random()), rng.uniform(0.2, 0.6)))
        self.cycle = 0
        self.bursts = {"ar": 0, "aw": 0}

    def _fail_from(self, limit: int) -> None:
        """Make beats at or above ``limit`` fail: ``AxiRam`` answers them with SLVERR.

        (``AxiRam`` itself wraps addresses modulo its size and never errs; its
        slave catches an exception from the memory access and sets SLVERR.)
        """
        read, write = self.ram.read_if._read, self.ram.write_if._write

        async def failing_read(address, length):
            if address >= limit:
                raise ValueError(f"read of {address:#x} past {limit:#x}")
            return await read(address, length)

        async def failing_write(address, data):
            if address >= limit:
                raise ValueError(f"write of {address:#x} past {limit:#x}")
            await write(address, data)

        self.ram.read_if._read, self.ram.write_if._write = failing_read, failing_write

    @staticmethod
    def _pauses(rng: random.Random, p: float):
        while True:
            yield rng.random() < p

    async def start(self):
        dut = self.dut
        Clock(dut.clk, 10, unit="ns").start()
        dut.rst.value = 1
        for i in range(self.n):
            getattr(dut, f"rd{i}_req_valid").value = 0
            getattr(dut, f"rd{i}_ready").value = 0
        dut.wr_req_valid.value = 0
        dut.wr_valid.value = 0
        dut.error_clear.value = 0
        await ClockCycles(dut.clk, 4)
        dut.rst.value = 0
        cocotb.start_soon(self._count())
        cocotb.start_soon(self._monitor_bursts())
        await RisingEdge(dut.clk)

    async def _count(self):
        while True:
            await RisingEdge(self.dut.clk)
            self.cycle += 1

    async def _monitor_bursts(self):
        """Every AR/AW burst: INCR, full width, <= max_burst beats, inside one 4 KiB page."""
        dut, size = self.dut, (self.bb - 1).bit_length()
        while True:
            await RisingEdge(dut.clk)
            for p in ("ar", "aw"):
                if getattr(dut, f"m_axi__{p}valid").value and getattr(dut, f"m_axi__{p}ready").value:
                    addr = int(getattr(dut, f"m_axi__{p}addr").value)
                    beats = int(getattr(dut, f"m_axi__{p}len").value) + 1
                    assert beats <= self.params["max_burst"], (p, addr, beats)
                    assert addr % self.bb == 0 and addr // 4096 == (addr + beats * self.bb - 1) // 4096, \
                        (p, hex(addr), beats)
                    assert int(getattr(dut, f"m_axi__{p}size").value) == size
                    assert int(getattr(dut, f"m_axi__{p}burst").value) == 1
                    self.bursts[p] += 1

    async def send(self, prefix: str, items: list[dict], gap: float, rng: random.Random):
        """Drive the stream ``prefix``_valid/_ready with ``items`` (port name → value), random gaps."""
        valid, ready = getattr(self.dut, f"{prefix}_valid"), getattr(self.dut, f"{prefix}_ready")
        sent, cycles = 0, []
        while sent < len(items):
            await RisingEdge(self.dut.clk)
            if valid.value and ready.value:
                sent += 1
                cycles.append(self.cycle)
            if not valid.value or ready.value:
                if sent < len(items) and rng.random() >= gap:
                    for name, value in items[sent].items():
                        getattr(self.dut, f"{prefix}_{name}").value = value
                    valid.value = 1
                else:
                    valid.value = 0
        return cycles

    async def receive(self, i: int, count: int, stall: float, rng: random.Random):
        """Take ``count`` beats from read client ``i`` under random back-pressure."""
        dut = self.dut
        valid, ready = getattr(dut, f"rd{i}_valid"), getattr(dut, f"rd{i}_ready")
        data, last, error = (getattr(dut, f"rd{i}_{s}") for s in ("data", "last", "error"))
        beats = []
        while len(beats) < count:
            await RisingEdge(dut.clk)
            if valid.value and ready.value:
                beats.append((int(data.value), int(last.value), int(error.value), self.cycle))
            ready.value = int(len(beats) < count and rng.random() >= stall)
        ready.value = 0
        return beats

    async def wait_for(self, name: str, limit: int = 20000):
        for _ in range(limit):
            await RisingEdge(self.dut.clk)
            if getattr(self.dut, name).value:
                return
        raise AssertionError(f"{name} not set within {limit} cycles (seed {SEED})")


def _aligned_request(rng: random.Random, bb: int, lo: int, hi: int, beats: int) -> int:
    """A bus-aligned start in [lo, hi - beats*bb]; often just below a 4 KiB boundary."""
    top = hi - beats * bb
    if rng.random() < 0.4:
        page = rng.randrange(lo // 4096 + 1, hi // 4096)
        addr = page * 4096 - rng.randrange(1, 9) * bb
        if lo <= addr <= top:
            return addr
    return lo + rng.randrange(0, (top - lo) // bb + 1) * bb


def _check_read(bench: Bench, i: int, reqs: list[tuple[int, int]], beats: list, image: bytes):
    bb, pos = bench.bb, 0
    for addr, length in reqs:
        for k in range(length):
            word, last, error, _ = beats[pos]
            want = int.from_bytes(image[addr + k * bb: addr + (k + 1) * bb], "little")
            where = f"client {i} request {addr:#x}+{length} beat {k} (seed {SEED})"
            assert word == want and not error, where
            assert last == (k == length - 1), where
            pos += 1


if cocotb is not None:

    @cocotb.test()
    async def cocotb_random_traffic(dut):
        rng = random.Random(f"{SEED}-random")
        bench = Bench(dut, rng, pauses=True)
        bb, n = bench.bb, bench.n
        half = 1 << 15
        image = bytes(rng.getrandbits(8) for _ in range(1 << 16))
        bench.ram.write(0, image)
        await bench.start()

        long_beats = min(300, 6000 // bb)
        reads = []
        for _ in range(n):
            lengths = ([rng.randint(1, 8) for _ in range(6)] + [rng.randint(9, 130) for _ in range(3)]
                       + [long_beats])
            rng.shuffle(lengths)
            reads.append([(_aligned_request(rng, bb, 0, half, k), k) for k in lengths])
        writes, cursor = [], half + rng.randrange(0, 8) * bb
        while True:
            beats = rng.choice([1, 2, rng.randint(3, 40), rng.randint(40, 140)])
            if rng.random() < 0.3:  # start just below the next 4 KiB boundary
                cursor = max(cursor, (cursor // 4096 + 1) * 4096 - rng.randrange(1, 6) * bb)
            if cursor + beats * bb > (1 << 16) or len(writes) == 30:
                break
            writes.append((cursor, beats))
            cursor += (beats + rng.randrange(0, 4)) * bb
        expect = bytearray(image)
        wbeats = []
        for addr, beats in writes:
            for k in range(beats):
                word = rng.getrandbits(8 * bb)
                strb = rng.getrandbits(bb) if rng.random() < 0.5 else (1 << bb) - 1
                wbeats.append({"data": word, "strb": strb})
                for b in range(bb):
                    if strb >> b & 1:
                        expect[addr + k * bb + b] = word >> (8 * b) & 0xFF

        tasks = []
        for i in range(n):
            tasks.append(cocotb.start_soon(bench.send(
                f"rd{i}_req", [{"addr": a, "len": k - 1} for a, k in reads[i]], 0.3,
                random.Random(rng.random()))))
            tasks.append(cocotb.start_soon(bench.receive(
                i, sum(k for _, k in reads[i]), 0.3, random.Random(rng.random()))))
        tasks.append(cocotb.start_soon(bench.send(
            "wr_req", [{"addr": a, "len": k - 1} for a, k in writes], 0.5, random.Random(rng.random()))))
        tasks.append(cocotb.start_soon(bench.send("wr", wbeats, 0.3, random.Random(rng.random()))))
        results = [await t for t in tasks]
        await bench.wait_for("write_idle")
        await bench.wait_for("read_idle")
        for i in range(n):
            _check_read(bench, i, reads[i], results[2 * i + 1], image)
        got = bench.ram.read(0, 1 << 16)
        bad = [a for a in range(half, 1 << 16) if got[a] != expect[a]]
        assert not bad, f"{len(bad)} bytes wrong, first at {bad[0]:#x} (seed {SEED})"
        assert got[:half] == image[:half]
        assert not int(dut.read_error.value) and not int(dut.write_error.value)
        _report("random_traffic", {
            "cycles": bench.cycle, "read_bytes": sum(k for r in reads for _, k in r) * bb,
            "write_bytes": len(wbeats) * bb, "ar_bursts": bench.bursts["ar"],
            "aw_bursts": bench.bursts["aw"]})

    @cocotb.test()
    async def cocotb_throughput(dut):
        rng = random.Random(f"{SEED}-throughput")
        bench = Bench(dut, rng, pauses=False)
        bb = bench.bb
        image = bytes(rng.getrandbits(8) for _ in range(1 << 16))
        bench.ram.write(0, image)
        await bench.start()
        beats = (1 << 15) // bb
        reqs = [(0, beats)]
        sink = cocotb.start_soon(bench.receive(0, beats, 0.0, rng))
        (t_req,) = await bench.send("rd0_req", [{"addr": 0, "len": beats - 1}], 0.0, rng)
        got = await sink
        _check_read(bench, 0, reqs, got, image)
        first, last = got[0][3], got[-1][3]
        read_rate = beats / (last - first + 1)

        wbeats = [{"data": rng.getrandbits(8 * bb), "strb": (1 << bb) - 1} for _ in range(beats)]
        data = cocotb.start_soon(bench.send("wr", wbeats, 0.0, rng))
        (w_req,) = await bench.send("wr_req", [{"addr": 1 << 15, "len": beats - 1}], 0.0, rng)
        w_cycles = await data
        await bench.wait_for("write_idle")
        w_done = bench.cycle
        assert bench.ram.read(1 << 15, beats * bb) == b"".join(
            w["data"].to_bytes(bb, "little") for w in wbeats)
        _report("throughput", {
            "read_beats": beats, "read_first_beat_latency": first - t_req,
            "read_beats_per_cycle": round(read_rate, 4),
            "read_beats_per_cycle_incl_latency": round(beats / (last - t_req), 4),
            "write_beats_per_cycle": round(beats / (w_cycles[-1] - w_cycles[0] + 1), 4),
            "write_request_to_idle_cycles": w_done - w_req})
        assert read_rate >= 0.9, f"read throughput {read_rate:.3f} beat/cycle < 0.9"

    @cocotb.test()
    async def cocotb_error_responses(dut):
        rng = random.Random(f"{SEED}-errors")
        size = 1 << 16
        bench = Bench(dut, rng, pauses=True, ram_size=2 * size, fail_from=size)
        bb = bench.bb
        await bench.start()
        # Four beats: two inside the RAM, two past its end (their own burst: 0x10000 is a page edge).
        sink = cocotb.start_soon(bench.receive(0, 4, 0.2, rng))
        await bench.send("rd0_req", [{"addr": size - 2 * bb, "len": 3}], 0.0, rng)
        beats = await sink
        assert [e for _, _, e, _ in beats] == [0, 0, 1, 1], beats
        assert [last for _, last, _, _ in beats] == [0, 0, 0, 1], beats
        await bench.wait_for("read_error", 10)
        assert not int(dut.write_error.value)

        data = cocotb.start_soon(bench.send("wr", [{"data": 1, "strb": 1}] * 2, 0.0, rng))
        await bench.send("wr_req", [{"addr": size, "len": 1}], 0.0, rng)
        await data
        await bench.wait_for("write_idle")
        await bench.wait_for("write_error", 10)
        dut.error_clear.value = 1
        await RisingEdge(dut.clk)
        dut.error_clear.value = 0
        await ClockCycles(dut.clk, 2)
        assert not int(dut.read_error.value) and not int(dut.write_error.value)
        _report("errors", {"ok": True})
