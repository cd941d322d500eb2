"""Amaranth-simulator tests of the OutputWriter: the memory it writes equals ``hls.layout``'s image.

A software AXI slave applies the accepted write requests and beats (honouring
the strobes) to a bytearray; the result must equal ``pack_raw`` of the
accumulators and ``pack_activations`` of ``requantize_engine``'s result, for
random layers (raw and requantized pixels interleaved in random order), with
random input gaps and independent random back-pressure on ``aw`` and ``w``.
No byte is written twice and none outside the channels. Seed: ``WINNOW_SEED``.
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Fragment
from rtl_lint import DATAPATH_WAIVERS, check_lint
from sim_streams import SEED, Port, child_rngs, rng_for, simulate, sink, source
from test_rtl_requant import controls, reference
from winnow.hls.config import EngineConfig
from winnow.hls.errors import WinnowParameterError
from winnow.hls.layout import activation_pitch, pack_activations, pack_raw, raw_pitch
from winnow.hls.quant import EngineRequant, quantize_multiplier, requantize_engine
from winnow.rtl.output_writer import OutputWriter


def config(lanes: int, bus: int) -> EngineConfig:
    return EngineConfig(pes=lanes, bus_bytes=bus)


# --- software AXI slave ---------------------------------------------------------------

def apply_writes(mem: bytearray, requests, beats, bus: int) -> np.ndarray:
    """Apply ``requests`` [(addr, n)] with their ``beats`` [(data, strb, last)] to ``mem``.

    Returns how often each byte was written. Checks alignment and ``last``.
    """
    written = np.zeros(len(mem), dtype=np.int64)
    it = iter(beats)
    for addr, n in requests:
        assert addr % bus == 0 and n >= 1, f"request {addr:#x} x {n} (seed {SEED})"
        for j in range(n):
            word, strb, last = next(it)
            assert last == (j == n - 1), f"last flag on beat {j}/{n} (seed {SEED})"
            assert strb, f"empty beat in request {addr:#x} (seed {SEED})"
            for b in range(bus):
                if strb >> b & 1:
                    mem[addr + j * bus + b] = word >> (8 * b) & 0xFF
                    written[addr + j * bus + b] += 1
    assert next(it, None) is None, f"beats left over after the last request (seed {SEED})"
    return written


# --- stream driver --------------------------------------------------------------------

def run_writer(dut, inputs, rng, *, gap=0.3, stall=0.3, max_cycles=20000):
    """Drive ``inputs``; returns (requests, beats, in_cycles, aw_cycles, w_cycles).

    Checks the stream rules on ``aw`` and ``w``: a valid output stays valid with
    the same payload until accepted.
    """
    src_rng, aw_rng, w_rng = child_rngs(rng, 3)
    requests, beats, in_cycles, aw_cycles, w_cycles = [], [], [], [], []
    idle = 0

    def take_aw(p, cycle):
        requests.append((p.addr, p.beats))
        aw_cycles.append(cycle)

    def take_w(p, cycle):
        beats.append((p.data, p.strb, p.last))
        w_cycles.append(cycle)

    def done():  # every request and its beats out, 13 cycles in a row (nothing more came out)
        nonlocal idle
        finished = len(requests) == len(inputs) and len(beats) == sum(n for _, n in requests)
        idle = idle + 1 if finished else 0
        return idle > 12

    simulate(dut, source(dut.i, inputs, src_rng, gap=gap, cycles=in_cycles),
             sink([Port("aw", dut.aw, aw_rng, take_aw), Port("w", dut.w, w_rng, take_w)],
                  stall=stall, max_cycles=max_cycles, done=done,
                  progress=lambda: f"{len(requests)}/{len(inputs)} requests"))
    return requests, beats, in_cycles, aw_cycles, w_cycles


# --- layers ---------------------------------------------------------------------------

def layer_items(rng, lanes: int, k: int, h: int, w: int, bus: int, enable: int, base: int):
    """Transfers writing one [K, H, W] output image at ``base``, and its expected bytes."""
    reals = 2.0 ** rng.uniform(-14, -6, size=k)
    ms = [quantize_multiplier(r) for r in reals]
    acc = np.round(rng.normal(0, 150, size=(k, h, w)) / reals[:, None, None]).astype(np.int32)
    if rng.random() < 0.3:
        acc = rng.integers(-(1 << 31), 1 << 31, size=(k, h, w), dtype=np.int64).astype(np.int32)
    bias = np.round(rng.normal(0, 40, size=k) / reals).astype(np.int32)
    ctl = {**controls(rng), "enable": enable}
    if enable:
        dtype = np.int8 if ctl["out_signed"] else np.uint8
        zp = int(np.array(ctl["zero_point"], dtype=np.uint8).view(dtype))
        params = EngineRequant(np.array([m for m, _ in ms]), np.array([s for _, s in ms]), zp,
                               dtype, bool(ctl["relu"]))
        image = pack_activations(requantize_engine(acc, params, bias, axis=0), bus)
        pitch, elem = activation_pitch(k, bus), 1
    else:
        image, pitch, elem = pack_raw(acc, bus), raw_pitch(k, bus), 4

    def pad(a, g):  # group g's lanes of a per-channel vector, missing channels 0
        return [int(a[c]) if c < k else 0 for c in range(g * lanes, (g + 1) * lanes)]

    items = []
    for p in range(h * w):
        for g in range(-(-k // lanes)):
            items.append({
                "values": pad(acc[:, p // w, p % w], g), "addr": base + p * pitch + g * lanes * elem,
                "nlanes": min(lanes, k - g * lanes), "bias": pad(bias, g),
                "multiplier": pad([m for m, _ in ms], g), "shift": pad([s for _, s in ms], g),
                **ctl})
    valid = np.zeros(len(image), dtype=bool)
    valid.reshape(h * w, pitch)[:, :k * elem] = True
    return items, image, valid


@pytest.mark.parametrize("lanes", [1, 3, 4, 8])
@pytest.mark.parametrize("bus", [8, 16, 32])
def test_layer_images(lanes, bus):
    rng = rng_for(f"writer_{lanes}_{bus}")
    dut = OutputWriter(config(lanes, bus))
    k = int(rng.integers(1, 3 * lanes + 1)) if lanes > 1 else 2
    h, w = 2, 3
    raw_items, raw_image, raw_valid = layer_items(rng, lanes, k, h, w, bus, 0, 0)
    base = -(-(len(raw_image) + bus) // bus) * bus
    q_items, q_image, q_valid = layer_items(rng, lanes, k, h, w, bus, 1, base)
    items = raw_items + q_items
    order = rng.permutation(len(items))
    requests, beats, *_ = run_writer(dut, [items[n] for n in order], rng)

    mem = bytearray(base + len(q_image) + 2 * bus)
    written = apply_writes(mem, requests, beats, bus)
    want = np.zeros(len(mem), dtype=np.uint8)
    want[:len(raw_image)] = raw_image
    want[base:base + len(q_image)] = q_image
    want_written = np.zeros(len(mem), dtype=bool)
    want_written[:len(raw_image)] = raw_valid
    want_written[base:base + len(q_image)] = q_valid
    np.testing.assert_array_equal(written, want_written.astype(int),
                                  err_msg=f"bytes written (K={k}, seed {SEED})")
    np.testing.assert_array_equal(np.frombuffer(mem, dtype=np.uint8), want,
                                  err_msg=f"memory image (K={k}, seed {SEED})")
    assert max(n for _, n in requests) <= dut.max_beats


@pytest.mark.parametrize("lanes,bus", [(3, 8), (8, 16), (2, 4)])
def test_unaligned_spans(lanes, bus):
    """Any byte address and any nlanes: the span lands at addr, nothing else is touched."""
    rng = rng_for(f"writer_unaligned_{lanes}_{bus}")
    dut = OutputWriter(config(lanes, bus))
    slot = -(-(4 * lanes + 2 * bus) // bus) * bus
    items, want = [], {}
    for n in range(40):
        item = {"values": rng.integers(-(1 << 31), 1 << 31, size=lanes).tolist(),
                "addr": n * slot + int(rng.integers(0, bus + 1)),
                "nlanes": int(rng.integers(1, lanes + 1)),
                "bias": rng.integers(-1000, 1000, size=lanes).tolist(),
                "multiplier": [quantize_multiplier(2.0 ** -25)[0]] * lanes,
                "shift": [quantize_multiplier(2.0 ** -25)[1]] * lanes, **controls(rng, 0.5)}
        got = reference({**item, "acc": item["values"]})[:item["nlanes"]]
        dt = np.int32 if not item["enable"] else (np.int8 if item["out_signed"] else np.uint8)
        for b, byte in enumerate(np.array(got, dtype=dt).tobytes()):
            want[item["addr"] + b] = byte
        items.append(item)
    requests, beats, *_ = run_writer(dut, items, rng, stall=0.5)
    mem = bytearray(len(items) * slot + bus)
    written = apply_writes(mem, requests, beats, bus)
    assert {a for a in range(len(mem)) if written[a]} == set(want), f"seed {SEED}"
    assert max(written) == 1 and all(mem[a] == v for a, v in want.items()), f"seed {SEED}"
    assert max(n for _, n in requests) == dut.max_beats  # reached (raw, full, offset B - 1)


@pytest.mark.parametrize("lanes,bus,enable", [(4, 16, 1), (8, 8, 0), (3, 8, 1)])
def test_latency_and_throughput(lanes, bus, enable):
    """No gaps, no back-pressure: one beat per cycle, the first ``latency`` cycles after the input."""
    rng = rng_for(f"writer_rate_{lanes}_{bus}")
    dut = OutputWriter(config(lanes, bus))
    items, *_ = layer_items(rng, lanes, lanes, 4, 5, bus, enable, 0)
    requests, beats, in_cycles, aw_cycles, w_cycles = run_writer(dut, items, rng, gap=0, stall=0)
    per_pixel = [n for _, n in requests]
    assert len(set(per_pixel)) == 1  # aligned groups: every pixel needs the same beats
    assert in_cycles[0] == 0
    assert w_cycles == list(range(in_cycles[0] + dut.latency, in_cycles[0] + dut.latency + len(beats)))
    assert aw_cycles == [in_cycles[0] + dut.latency + n * per_pixel[0] for n in range(len(items))]
    if lanes * (1 if enable else 4) <= bus:
        assert per_pixel[0] == 1  # one pixel per cycle


def test_max_beats():
    for lanes, bus, want in [(1, 8, 2), (8, 8, 5), (16, 16, 5), (4, 64, 2), (64, 4, 65)]:
        dut = OutputWriter(config(lanes, bus))
        Fragment.get(dut, None)
        assert dut.max_beats == want  # ceil((B - 1 + 4 lanes) / B): raw lanes at offset B - 1


def test_bad_parameters():
    with pytest.raises(WinnowParameterError, match=r"^OutputWriter config must be a "
                       r"winnow.hls.config.EngineConfig, not 16$"):
        OutputWriter(16)
    with pytest.raises(WinnowParameterError,
                       match=r"^OutputWriter acc_bits must be an integer in \[2, 32\], got 40$"):
        OutputWriter(acc_bits=40)


def test_elaborates_with_defaults():
    dut = OutputWriter()
    Fragment.get(dut, None)
    assert (dut.lanes, dut.bus_bytes, dut.acc_bits) == (4, 16, 32)


@pytest.mark.parametrize("lanes,bus", [(3, 8), (4, 16)])
def test_verilog_lint(lanes, bus, tmp_path):
    name = f"output_writer_{lanes}_{bus}"
    text = verilog.convert(OutputWriter(config(lanes, bus)), name=name, emit_src=False,
                           strip_internal_attrs=True)
    path = tmp_path / f"{name}.v"
    path.write_text(text)
    check_lint(path, {**DATAPATH_WAIVERS,
                      "DECLFILENAME": "the pack FIFO's module shares the writer's file"}, top=name)
