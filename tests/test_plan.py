"""The tiling planner covers every output exactly once; the cycle model is consistent.

(The model's agreement with the RTL's measured cycles is asserted in test_rtl_engine.py.)
"""

import math

import pytest
from winnow.hls.config import EngineConfig
from winnow.hls.errors import WinnowParameterError
from winnow.hls.line_geometry import fits
from winnow.hls.plan import ConvLayer, GemmLayer, Mode, max_gemm_depth, plan_conv, plan_gemm


@pytest.mark.parametrize("layer,cfg", [
    (ConvLayer(1, 64, 56, 56, 64), EngineConfig()),
    (ConvLayer(2, 3, 7, 5, 5, (0, 1, 2, 0)), EngineConfig(pes=3)),
    (ConvLayer(1, 700, 9, 9, 10), EngineConfig(max_channels=256, line_buffer_bytes=16 * 1024)),
    (ConvLayer(1, 16, 3, 300, 2), EngineConfig(max_channels=64, line_buffer_bytes=4096)),
    (ConvLayer(1, 64, 5, 224, 8, (1, 2, 1, 1)), EngineConfig()),
    (ConvLayer(1, 1, 1, 1, 1), EngineConfig(pes=1)),
])
def test_runs_cover_each_output_and_channel_once_and_fit(layer, cfg):
    plan = plan_conv(layer, cfg)
    seen = {}
    for p in plan.passes:
        assert p.c <= cfg.max_channels and fits(cfg, p.c, p.w)
        assert p.accumulate == (p.channels[0] > 0)
        ho, wo, _, _ = p.geometry()
        assert ho == layer.ho and wo == p.cols[1] - p.cols[0]
        for col in range(*p.cols):
            seen.setdefault((p.image, col), []).append(p.channels)
    assert len(seen) == layer.n * layer.wo
    for chunks in seen.values():
        assert sum(b - a for a, b in chunks) == layer.c
    assert plan.mac_active_cycles >= plan.ideal_cycles
    assert plan.cycles > plan.mac_active_cycles


def test_strip_inputs_carry_the_halo():
    plan = plan_conv(ConvLayer(1, 64, 5, 224, 8, (1, 2, 1, 1)))
    assert len(plan.passes) > 1
    first, last = plan.passes[0], plan.passes[-1]
    assert first.pads[1] == 2 and first.pads[3] == 0
    assert last.pads[1] == 0 and last.pads[3] == 1
    for p in plan.passes:  # input columns = output columns + 2 - pads inside the strip
        assert p.w + p.pads[1] + p.pads[3] == (p.cols[1] - p.cols[0]) + 2


def test_ideal_cycles_formula():
    """16·C·K·ceil(H/2)·ceil(W/2) / M for M multipliers, with K a multiple of the PEs."""
    plan = plan_conv(ConvLayer(1, 64, 56, 56, 64))
    assert plan.ideal_cycles == 16 * 64 * 64 * 28 * 28 // 64 == plan.mac_active_cycles


@pytest.mark.parametrize("c,h", [(64, 56), (256, 14)])
def test_default_engine_is_compute_bound_on_paper_layers(c, h):
    plan = plan_conv(ConvLayer(1, c, h, h, c))
    assert plan.utilization > 0.95
    # 64 multipliers at 200 MHz, 2.25 direct MACs per multiply: ~57.6 GOPS peak
    assert 50 < plan.effective_gops(200e6) < 57.6


def test_partial_pe_group_costs_a_full_group():
    full = plan_conv(ConvLayer(1, 8, 8, 8, 8))
    partial = plan_conv(ConvLayer(1, 8, 8, 8, 5))
    assert partial.mac_active_cycles == full.mac_active_cycles
    assert partial.ideal_cycles < full.ideal_cycles


def test_first_layer_is_write_bound():
    plan = plan_conv(ConvLayer(1, 3, 224, 224, 64))
    assert plan.utilization < 0.8


def test_requant_needs_single_chunk():
    assert plan_conv(ConvLayer(1, 64, 8, 8, 8, requant=True)).requant_on_engine
    big = plan_conv(ConvLayer(1, 600, 8, 8, 8, requant=True))
    assert not big.requant_on_engine and "on the host" in big.notes[0]


def test_gemm_plan():
    cfg = EngineConfig()
    plan = plan_gemm(GemmLayer(100, 64, 10), cfg)
    assert plan.mode is Mode.GEMM and len(plan.passes) == 1
    assert plan.passes[0].h == 112 // 4
    assert plan.ideal_cycles == math.ceil(math.ceil(100 / 16) * 64 * 10 / 4)
    deep = plan_gemm(GemmLayer(4, 5000, 3), cfg)
    assert max(p.c for p in deep.passes) <= min(max_gemm_depth(cfg), cfg.max_channels)
    assert "split into" in deep.notes[0]


@pytest.mark.parametrize("make,match", [
    (lambda: ConvLayer(1, 0, 4, 4, 4), "conv layer c must be a positive integer, not 0"),
    (lambda: ConvLayer(1, 1, -4, 4, 4), "conv layer h must be a positive integer, not -4"),
    (lambda: ConvLayer(1, 1, 2, 2, 1, (0, 0, 0, 0)), "smaller than the 3x3 kernel"),
    (lambda: ConvLayer(1, 1, 4, 4, 1, (1, 1)), "pads must be four non-negative integers"),
    (lambda: GemmLayer(0, 1, 1), "GEMM m must be a positive integer, not 0"),
    (lambda: EngineConfig(pes=0), "pes must be an integer in \\[1, 64\\], not 0"),
    (lambda: EngineConfig(bus_bytes=12), "bus_bytes must be one of 4, 8, 16, 32, 64"),
    (lambda: EngineConfig(m=3), "m must be 2"),
    (lambda: EngineConfig(line_buffer_bytes=2048), "cannot hold one tile column"),
    (lambda: EngineConfig(max_burst=300), "max_burst must be an integer in \\[1, 256\\]"),
])
def test_bad_parameters(make, match):
    with pytest.raises(WinnowParameterError, match=match):
        make()
