"""The Winograd transforms are derived exactly and compute correlations exactly."""

from fractions import Fraction

import numpy as np
import pytest
from winnow.hls.errors import WinnowParameterError
from winnow.hls.transforms import F2x2_3x3, F4x4_3x3, integer_winograd, winograd_1d


def correlate_1d(d, g):
    m = len(d) - len(g) + 1
    return [sum(d[i + j] * g[j] for j in range(len(g))) for i in range(m)]


@pytest.mark.parametrize("m,r", [(2, 3), (4, 3), (3, 3), (1, 3), (6, 3)])
def test_1d_identity_exact_on_basis(m, r):
    """y = Aᵀ[(G g) ⊙ (Bᵀ d)] is bilinear: checking all basis pairs proves it for every input."""
    w = winograd_1d(m, r)
    n = w.n
    for i in range(n):
        for j in range(r):
            d = [Fraction(int(k == i)) for k in range(n)]
            g = [Fraction(int(k == j)) for k in range(r)]
            gg = [sum(w.G[a][b] * g[b] for b in range(r)) for a in range(n)]
            bd = [sum(w.BT[a][b] * d[b] for b in range(n)) for a in range(n)]
            y = [sum(w.AT[o][a] * gg[a] * bd[a] for a in range(n)) for o in range(m)]
            assert y == correlate_1d(d, g)


def test_f23_matrices_are_the_known_ones():
    f = F2x2_3x3
    assert f.scale == 2 and f.divisor == 4
    assert f.BT.tolist() == [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, -1, 0, 1]]
    assert f.G.tolist() == [[2, 0, 0], [1, 1, 1], [1, -1, 1], [0, 0, 2]]
    assert f.AT.tolist() == [[1, 1, 1, 0], [0, 1, -1, 1]]


def test_f43_scale():
    assert F4x4_3x3.scale == 24 and F4x4_3x3.divisor == 576
    assert np.abs(F4x4_3x3.BT).max() == 5


@pytest.mark.parametrize("wino", [F2x2_3x3, F4x4_3x3], ids=["F2x2", "F4x4"])
def test_2d_tile_exact_extremes(wino):
    rng = np.random.default_rng(7)
    n = wino.n
    cases = [(np.full((n, n), v), np.full((3, 3), u)) for v in (-255, 255) for u in (-128, 127)]
    cases += [(rng.integers(-255, 256, (n, n)), rng.integers(-128, 128, (3, 3))) for _ in range(200)]
    for d, g in cases:
        ref = [[int((d[i:i + 3, j:j + 3] * g).sum()) for j in range(wino.m)] for i in range(wino.m)]
        assert wino.tile_correlation(d, g).tolist() == ref


@pytest.mark.parametrize("args,match", [
    ((0, 3), "m must be a positive integer, not 0"),
    ((2, -1), "r must be a positive integer, not -1"),
    ((5, 3), "no default points for F\\(5, 3\\)"),
])
def test_bad_parameters(args, match):
    with pytest.raises(WinnowParameterError, match=match):
        winograd_1d(*args)


def test_repeated_points_rejected():
    with pytest.raises(WinnowParameterError, match="needs 3 distinct finite points"):
        winograd_1d(2, 3, (0, 1, 1))


def test_fractional_points_are_not_integer():
    with pytest.raises(WinnowParameterError, match="non-integer entry"):
        integer_winograd(6, 3)
