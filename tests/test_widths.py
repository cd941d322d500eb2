"""The width analysis is exact: witnesses reach every bound, nothing exceeds it."""

import numpy as np
import pytest
from winnow.hls.config import EngineConfig
from winnow.hls.errors import WinnowParameterError
from winnow.hls.transforms import F2x2_3x3, F4x4_3x3
from winnow.hls.widths import STAGES, analyze, int_range, max_channels, signed_bits, stage_values

CASES = [
    (F2x2_3x3, (-255, 255), (-128, 127), 1),
    (F2x2_3x3, (-255, 255), (-128, 127), 512),
    (F2x2_3x3, (-128, 127), (-128, 127), 3),
    (F2x2_3x3, (0, 255), (-127, 127), 7),
    (F4x4_3x3, (-128, 127), (-128, 127), 512),
]
IDS = ["f2-int9-c1", "f2-int9-c512", "f2-int8-c3", "f2-uint8-c7", "f4-int8-c512"]


def test_signed_bits():
    assert [signed_bits(*r) for r in [(-1, 0), (-128, 127), (-129, 0), (0, 128), (0, 0)]] == \
        [1, 8, 9, 9, 1]
    assert int_range(8) == (-128, 127)


def test_known_f23_figures():
    """The figures in the design notes: V 10 bits, U 12 bits, |UV| <= 589,824, C < 3640."""
    w = analyze(F2x2_3x3, (-128, 127), (-128, 127), 1)
    assert (w["v"].lo, w["v"].hi, w["v"].bits) == (-512, 510, 10)
    assert (w["u"].lo, w["u"].hi, w["u"].bits) == (-1152, 1147, 12)
    assert w["product"].hi == 589_824 and w["product"].bits == 21
    assert max_channels(32, F2x2_3x3, (-128, 127), (-128, 127)) == 3640


@pytest.mark.parametrize("wino,dr,wr,c", CASES, ids=IDS)
def test_witnesses_reach_bounds_exactly(wino, dr, wr, c):
    w = analyze(wino, dr, wr, c)
    for name in STAGES:
        s = w[name]
        for (g, d), idx, bound in ((s.witness_lo, s.index_lo, s.lo), (s.witness_hi, s.index_hi, s.hi)):
            assert g.min() >= wr[0] and g.max() <= wr[1] and d.min() >= dr[0] and d.max() <= dr[1]
            assert stage_values(wino, g, d, c)[name][tuple(idx)] == bound, name
        # tight: the width is the minimum that holds both witnesses
        assert signed_bits(s.lo, s.hi) == s.bits
        lo, hi = int_range(s.bits - 1) if s.bits > 1 else (0, 0)
        assert s.lo < lo or s.hi > hi


@pytest.mark.parametrize("wino,dr,wr,c", CASES, ids=IDS)
def test_random_and_vertex_inputs_never_exceed(wino, dr, wr, c):
    seed = 1234
    rng = np.random.default_rng(seed)
    w = analyze(wino, dr, wr, c)
    n = wino.n
    for trial in range(300):
        # per-channel different inputs, mixing uniform and extreme (vertex) values
        gs = rng.integers(wr[0], wr[1] + 1, (c, 3, 3)) if trial % 2 else rng.choice(wr, (c, 3, 3))
        ds = rng.integers(dr[0], dr[1] + 1, (c, n, n)) if trial % 3 else rng.choice(dr, (c, n, n))
        v = wino.BT @ ds @ wino.BT.T
        u = wino.G @ gs @ wino.G.T
        prod = u * v
        acc = np.cumsum(prod, axis=0)  # every partial sum, not only the final one
        y_rows = wino.AT @ acc
        y = y_rows @ wino.AT.T
        for name, val in (("v_rows", wino.BT @ ds), ("v", v), ("u", u), ("product", prod),
                          ("acc", acc), ("y_rows", y_rows), ("y", y), ("out", y // wino.divisor)):
            assert w[name].lo <= val.min() and val.max() <= w[name].hi, (name, seed, trial)


def test_y_matches_direct_convolution_bound():
    """The output transform's range equals divisor x the direct convolution's exact range."""
    c = 64
    w = analyze(F2x2_3x3, (-255, 255), (-128, 127), c)
    assert w["out"].hi == c * 9 * 255 * 128 and w["out"].lo == -c * 9 * 255 * 128
    assert w["y"].hi == 4 * w["out"].hi


def test_engine_config_widths():
    cfg = EngineConfig()
    assert cfg.multipliers == 64
    assert cfg.widths["acc"].bits == 31
    assert cfg.widths["v"].bits == 11 and cfg.widths["u"].bits == 12


@pytest.mark.parametrize("kwargs,match", [
    ({"channels": 0}, "channels must be a positive integer, not 0"),
    ({"data_range": (5, -5)}, "data range must have min <= max"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(WinnowParameterError, match=match):
        analyze(**kwargs)


def test_accumulator_too_narrow():
    with pytest.raises(WinnowParameterError, match="cannot hold even one channel"):
        max_channels(16)
