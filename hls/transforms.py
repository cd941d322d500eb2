"""Winograd minimal-filtering transforms F(m, r), derived exactly.

The 1-D algorithm F(m, r) computes ``m`` outputs of a correlation with an
``r``-tap filter from an input tile of ``n = m + r - 1`` samples using ``n``
multiplications::

    y = Aᵀ [ (G g) ⊙ (Bᵀ d) ]

It is the transpose of a Cook-Toom linear convolution that evaluates the two
factor polynomials at ``n - 1`` finite points and at infinity, multiplies, and
interpolates (Lagrange). Transposing the convolution ``h -> g * h`` gives the
correlation ``d -> (sum_i g_i d_{i+j})_j``, hence:

* ``Aᵀ`` is the transposed evaluation matrix of the ``m``-term polynomial,
* ``G`` is the evaluation matrix of the ``r``-term filter polynomial, each row
  divided by the Lagrange denominator ``f_i = prod_{k != i} (a_i - a_k)``,
* ``Bᵀ`` holds the (integer) coefficients of ``prod_{k != i} (x - a_k)``.

Everything here is done in :class:`fractions.Fraction`; nothing is rounded.
The 2-D algorithm F(m x m, r x r) nests the 1-D one: ``Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A``.

Integer form: ``G`` has fractional entries; with ``s`` the least common
multiple of their denominators, ``Gs = s·G`` is integral, the weights are
transformed as ``U = Gs g Gsᵀ`` and the output is divided exactly by ``s²``
(4 for F(2x2, 3x3), 576 for F(4x4, 3x3)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cache

import numpy as np

from .errors import WinnowParameterError

#: Cook-Toom points (the point at infinity is always added last).
DEFAULT_POINTS: dict[int, tuple[int, ...]] = {
    # n - 1 finite points for n = m + r - 1 (r = 3)
    1: (0, 1),
    2: (0, 1, -1),
    3: (0, 1, -1, 2),
    4: (0, 1, -1, 2, -2),
    6: (0, 1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2)),
}


def _poly_mul(p: list[Fraction], q: list[Fraction]) -> list[Fraction]:
    out = [Fraction(0)] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        for j, b in enumerate(q):
            out[i + j] += a * b
    return out


def _prod_roots(roots: list[Fraction], length: int) -> list[Fraction]:
    """Coefficients (lowest first, padded to ``length``) of prod (x - root)."""
    poly = [Fraction(1)]
    for a in roots:
        poly = _poly_mul(poly, [-a, Fraction(1)])
    return poly + [Fraction(0)] * (length - len(poly))


@dataclass(frozen=True)
class Winograd1D:
    """Exact rational matrices of F(m, r): ``AT`` (m x n), ``G`` (n x r), ``BT`` (n x n)."""

    m: int
    r: int
    points: tuple[Fraction, ...]
    AT: tuple[tuple[Fraction, ...], ...]
    G: tuple[tuple[Fraction, ...], ...]
    BT: tuple[tuple[Fraction, ...], ...]

    @property
    def n(self) -> int:
        return self.m + self.r - 1


def _check_mr(m: int, r: int) -> None:
    for name, v in (("m", m), ("r", r)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise WinnowParameterError(f"Winograd {name} must be a positive integer, not {v!r}")


@cache
def winograd_1d(m: int, r: int = 3, points: tuple | None = None) -> Winograd1D:
    """Derive F(m, r) from Cook-Toom points (``n - 1`` distinct finite ones + infinity)."""
    _check_mr(m, r)
    n = m + r - 1
    if points is None:
        if r != 3 or m not in DEFAULT_POINTS:
            raise WinnowParameterError(
                f"no default points for F({m}, {r}); pass {n - 1} distinct points "
                f"(defaults exist for r=3, m in {sorted(DEFAULT_POINTS)})"
            )
        points = DEFAULT_POINTS[m]
    pts = [Fraction(p) for p in points]
    if len(pts) != n - 1 or len(set(pts)) != len(pts):
        raise WinnowParameterError(
            f"F({m}, {r}) needs {n - 1} distinct finite points, got {tuple(points)!r}"
        )

    def evaluation(k: int) -> list[list[Fraction]]:
        rows = [[a**j for j in range(k)] for a in pts]
        rows.append([Fraction(int(j == k - 1)) for j in range(k)])  # infinity: leading coeff
        return rows

    e_m, e_r = evaluation(m), evaluation(r)
    bt, g = [], []
    for i, a in enumerate(pts):
        others = pts[:i] + pts[i + 1 :]
        f = math.prod((a - b for b in others), start=Fraction(1))
        sign = 1 if f > 0 else -1
        bt.append([sign * c for c in _prod_roots(others, n)])
        g.append([c / abs(f) for c in e_r[i]])
    bt.append(_prod_roots(pts, n))  # point at infinity: the monic W(x)
    g.append(e_r[-1])
    at = [[e_m[i][j] for i in range(n)] for j in range(m)]
    freeze = lambda rows: tuple(tuple(row) for row in rows)  # noqa: E731
    return Winograd1D(m, r, tuple(pts), freeze(at), freeze(g), freeze(bt))


@dataclass(frozen=True)
class IntegerWinograd:
    """Integer form of F(m x m, r x r) as the engine computes it.

    ``BT`` and ``AT`` are integral already; ``G = scale · G_exact`` is integral,
    so the 2-D output ``Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A`` equals ``divisor`` times the
    true correlation, ``divisor = scale²``, and dividing by it is exact.
    """

    m: int
    r: int
    AT: np.ndarray  # (m, n) int64
    G: np.ndarray  # (n, r) int64
    BT: np.ndarray  # (n, n) int64
    scale: int

    @property
    def n(self) -> int:
        return self.m + self.r - 1

    @property
    def divisor(self) -> int:
        return self.scale * self.scale

    @property
    def tile(self) -> int:
        """Input tile edge (``n``); tiles advance by ``m``."""
        return self.n

    # 2-D transforms, vectorized over leading axes (int64, exact).
    def input_transform(self, d: np.ndarray) -> np.ndarray:
        """``V = Bᵀ d B`` for ``d[..., n, n]``."""
        return self.BT @ np.asarray(d, dtype=np.int64) @ self.BT.T

    def weight_transform(self, g: np.ndarray) -> np.ndarray:
        """``U = G g Gᵀ`` (scaled by ``scale²``) for ``g[..., r, r]``."""
        return self.G @ np.asarray(g, dtype=np.int64) @ self.G.T

    def output_transform(self, m: np.ndarray) -> np.ndarray:
        """``Aᵀ M A`` for ``M[..., n, n]``: ``divisor`` times the outputs (not yet divided)."""
        return self.AT @ np.asarray(m, dtype=np.int64) @ self.AT.T

    def tile_correlation(self, d: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Exact ``m x m`` correlation of one ``n x n`` tile, through the transforms."""
        y = self.output_transform(self.weight_transform(g) * self.input_transform(d))
        q, rem = np.divmod(y, self.divisor)
        if np.any(rem):  # would mean the algebra above is wrong
            raise AssertionError("Winograd output not divisible by its scale")
        return q


def _as_int(rows, what: str) -> np.ndarray:
    out = np.zeros((len(rows), len(rows[0])), dtype=np.int64)
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            if v.denominator != 1:
                raise WinnowParameterError(f"{what} has non-integer entry {v} at ({i}, {j})")
            out[i, j] = v.numerator
    return out


@cache
def integer_winograd(m: int = 2, r: int = 3) -> IntegerWinograd:
    """F(m x m, r x r) with integer matrices (``scale`` = lcm of G's denominators)."""
    w = winograd_1d(m, r)
    scale = math.lcm(*(v.denominator for row in w.G for v in row))
    g = [[v * scale for v in row] for row in w.G]
    return IntegerWinograd(
        m=m,
        r=r,
        AT=_as_int(w.AT, "AT"),
        G=_as_int(g, "scaled G"),
        BT=_as_int(w.BT, "BT"),
        scale=scale,
    )


#: The engine's algorithm.
F2x2_3x3 = integer_winograd(2, 3)
F4x4_3x3 = integer_winograd(4, 3)
