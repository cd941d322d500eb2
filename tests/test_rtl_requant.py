"""Amaranth-simulator tests of the Requantizer against ``hls.quant.requantize_engine``.

Vectors: seeded random accumulators scaled to land mostly inside the output
range, multipliers from ``quantize_multiplier`` of random reals, and the
extremes (int32 min/max accumulator and bias, multiplier 0 / 2**30 /
2**31 - 1, shifts SHIFT_MIN / SHIFT_MAX, exact ``.5`` ties of both signs),
each under random int8/uint8, zero point, ReLU and raw mode; streams driven
with random input gaps and output back-pressure. Seed: ``WINNOW_SEED``
(printed, and named in every failure message).
"""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Fragment
from amaranth.lib import data
from rtl_lint import DATAPATH_WAIVERS, check_lint
from sim_streams import SEED, rng_for, run_streams
from winnow.hls.errors import WinnowParameterError
from winnow.hls.quant import (
    SHIFT_MAX,
    SHIFT_MIN,
    EngineRequant,
    quantize_multiplier,
    requantize_engine,
)
from winnow.rtl.requant import Requantizer

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


# --- reference ------------------------------------------------------------------------

def reference(item: dict) -> list[int]:
    """One transfer through ``requantize_engine`` (or unchanged in raw mode)."""
    acc = np.array(item["acc"], dtype=np.int32)
    if not item["enable"]:
        return acc.tolist()
    dtype = np.int8 if item["out_signed"] else np.uint8
    zp = int(np.array(item["zero_point"], dtype=np.uint8).view(dtype))
    params = EngineRequant(np.array(item["multiplier"]), np.array(item["shift"]), zp, dtype,
                           bool(item["relu"]))
    y = requantize_engine(acc[None], params, np.array(item["bias"], dtype=np.int32), axis=1)
    return y[0].astype(int).tolist()


# --- vectors --------------------------------------------------------------------------

def controls(rng, enable_p=0.9) -> dict:
    signed_out = int(rng.integers(2))
    zp = int(rng.integers(-128, 128)) if signed_out else int(rng.integers(0, 256))
    return {"zero_point": zp & 0xFF, "out_signed": signed_out, "relu": int(rng.integers(2)),
            "enable": int(rng.random() < enable_p)}


def random_item(rng, lanes: int, acc_bits: int = 32) -> dict:
    """Reals in [2**-33, 2**31) (some flush to M = 0), accumulators scaled to reach ~[-400, 400]."""
    reals = 2.0 ** rng.uniform(-33, 29.9, size=lanes)
    ms = [quantize_multiplier(r) for r in reals]
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    target = rng.normal(0, 200, size=lanes) / reals
    acc = np.clip(np.round(target), lo, hi).astype(np.int64)
    bias = np.clip(np.round(rng.normal(0, 50, size=lanes) / reals), I32_MIN, I32_MAX)
    return {"acc": acc.tolist(), "bias": bias.astype(np.int64).tolist(),
            "multiplier": [m for m, _ in ms], "shift": [s for _, s in ms], **controls(rng)}


def extreme_items(rng, lanes: int) -> list[dict]:
    accs = [I32_MIN, I32_MAX, 0, -1, 1]
    biases = [I32_MIN, I32_MAX, 0]
    mults = [0, 1 << 30, (1 << 31) - 1]
    shifts = [SHIFT_MIN, SHIFT_MAX, -1, 0]
    combos = [(a, b, m, s) for a in accs for b in biases for m in mults for s in shifts]
    items = []
    for k in range(0, len(combos), lanes):
        chunk = (combos[k:k + lanes] + combos[:lanes])[:lanes]
        for ctl in ({"zero_point": 0x80, "out_signed": 1, "relu": 0, "enable": 1},
                    {"zero_point": 0x7F, "out_signed": 0, "relu": 1, "enable": 1},
                    controls(rng, enable_p=0.8)):
            items.append({"acc": [c[0] for c in chunk], "bias": [c[1] for c in chunk],
                          "multiplier": [c[2] for c in chunk], "shift": [c[3] for c in chunk],
                          **ctl})
    return items


def tie_items(rng, lanes: int, count: int) -> list[dict]:
    """``v * M / 2**(31+s)`` exactly ``j + 0.5`` (M = 2**30, v = (2j+1) 2**s), both signs."""
    items = []
    for _ in range(count):
        s = rng.integers(0, 22, size=lanes)
        j = rng.integers(-200, 200, size=lanes)
        v = (2 * j + 1) << s
        bias = rng.integers(-(1 << 20), 1 << 20, size=lanes)
        items.append({"acc": (v - bias).tolist(), "bias": bias.tolist(),
                      "multiplier": [1 << 30] * lanes, "shift": s.tolist(),
                      **controls(rng, enable_p=1.0)})
    return items


# --- checks ---------------------------------------------------------------------------

def check(dut, items, rng, **kw):
    run = run_streams(dut, items, len(items), rng, **kw)
    for n, (item, out) in enumerate(zip(items, run.outputs, strict=True)):
        got = [out.value[k] for k in range(dut.lanes)]
        want = reference(item)
        assert got == want and out.requantized == item["enable"], (
            f"transfer {n}: {item} -> {got}, want {want} (seed {SEED})")


# --- tests ----------------------------------------------------------------------------

@pytest.mark.parametrize("lanes", [1, 3, 4])
def test_random(lanes):
    rng = rng_for(f"requant_random_{lanes}")
    items = [random_item(rng, lanes) for _ in range(300 // lanes)]
    check(Requantizer(lanes), items, rng)


def test_extremes_and_ties():
    rng = rng_for("requant_extremes")
    items = extreme_items(rng, 4) + tie_items(rng, 4, 40)
    check(Requantizer(4), items, rng, stall=0.5)
    outs = [reference(it) for it in items if it["enable"]]
    assert {-128, 127, 0, 255} <= {v for o in outs for v in o}  # saturated both ways


def test_narrow_accumulator():
    """acc_bits < 32: requantized and raw (sign-extended to int32) results."""
    rng = rng_for("requant_acc20")
    items = [random_item(rng, 2, acc_bits=20) for _ in range(60)]
    items += [{**items[0], "acc": [-(1 << 19), (1 << 19) - 1], "enable": e} for e in (0, 1)]
    check(Requantizer(2, acc_bits=20), items, rng)


def test_latency_and_throughput():
    rng = rng_for("requant_latency")
    items = [random_item(rng, 2) for _ in range(20)]
    dut = Requantizer(2)
    run = run_streams(dut, items, len(items), rng, gap=0, stall=0)
    assert run.in_cycles == list(range(len(items)))
    assert run.out_cycles == [c + Requantizer.latency for c in run.in_cycles]


def test_tag_carried():
    rng = rng_for("requant_tag")
    dut = Requantizer(1, tag_shape=data.StructLayout({"addr": 32, "n": 3}))
    items = [{**random_item(rng, 1), "tag": {"addr": int(a), "n": int(a % 8)}}
             for a in rng.integers(0, 1 << 32, size=30)]
    run = run_streams(dut, items, len(items), rng)
    assert [(o.tag.addr, o.tag.n) for o in run.outputs] == [
        (it["tag"]["addr"], it["tag"]["n"]) for it in items]


@pytest.mark.parametrize("kwargs,message", [
    ({"lanes": 0}, r"^Requantizer lanes must be an integer in \[1, 64\], not 0$"),
    ({"lanes": 2.0}, r"^Requantizer lanes must be an integer in \[1, 64\], not 2.0$"),
    ({"lanes": 4, "acc_bits": 33},
     r"^Requantizer acc_bits must be an integer in \[2, 32\], got 33$"),
    ({"lanes": 4, "tag_shape": "addr"}, r"^Requantizer tag_shape must be a shape, not 'addr'$"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(WinnowParameterError, match=message):
        Requantizer(**kwargs)


def test_elaborates_with_defaults():
    dut = Requantizer(4)
    Fragment.get(dut, None)
    assert (dut.acc_bits, dut.lanes) == (32, 4)


@pytest.mark.parametrize("lanes", [1, 4])
def test_verilog_lint(lanes, tmp_path):
    name = f"requantizer_{lanes}"
    text = verilog.convert(Requantizer(lanes), name=name, emit_src=False, strip_internal_attrs=True)
    path = tmp_path / f"{name}.v"
    path.write_text(text)
    check_lint(path, DATAPATH_WAIVERS, top=name)
