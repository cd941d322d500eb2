"""Exact bit-width analysis of the Winograd datapath, stage by stage.

Every stage of the engine is either linear in the input tile ``d`` (input
transform), linear in the filter ``g`` (weight transform), or bilinear in
``(g, d)`` (products, accumulators, output transform). Over the box of
allowed values:

* a linear form reaches its extremes at the vertex chosen coefficient by
  coefficient (interval arithmetic is exact for one linear form);
* a bilinear form is linear in ``d`` for every fixed ``g`` and linear in ``g``
  for every fixed ``d``, so its extremes lie on vertices of the ``g`` box: we
  enumerate all ``2**(r*r)`` of them and pick the best ``d`` for each.

Accumulation over ``C`` channels multiplies the per-channel extremes by ``C``
(channels are independent, and partial sums stay inside ``C·[min, max]``
because every per-channel range contains 0). Every range comes with a witness
``(g, d)`` that reaches it, so tests can show the analysis is tight.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from .errors import WinnowParameterError
from .transforms import F2x2_3x3, IntegerWinograd

#: Stages in datapath order.
STAGES = ("d", "g", "v_rows", "v", "u", "product", "acc", "y_rows", "y", "out")


def signed_bits(lo: int, hi: int) -> int:
    """Smallest ``n`` with ``-2**(n-1) <= lo`` and ``hi <= 2**(n-1) - 1``."""
    if lo > hi:
        raise WinnowParameterError(f"empty range [{lo}, {hi}]")
    n = 1
    while lo < -(1 << (n - 1)) or hi > (1 << (n - 1)) - 1:
        n += 1
    return n


def int_range(bits: int) -> tuple[int, int]:
    """The range of a signed ``bits``-bit integer."""
    if not isinstance(bits, int) or bits < 1:
        raise WinnowParameterError(f"bit width must be a positive integer, not {bits!r}")
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


@dataclass(frozen=True)
class StageRange:
    """The exact range of one stage over all allowed inputs, with witnesses.

    ``witness_lo``/``witness_hi`` are ``(g, d)`` pairs (one channel, replicated
    over all ``C`` channels) for which some element of the stage equals
    ``lo``/``hi``; ``index_lo``/``index_hi`` name that element.
    """

    name: str
    lo: int
    hi: int
    witness_lo: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    witness_hi: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    index_lo: tuple[int, ...] = ()
    index_hi: tuple[int, ...] = ()

    @property
    def bits(self) -> int:
        return signed_bits(self.lo, self.hi)


@dataclass(frozen=True)
class DatapathWidths:
    """Ranges and minimum signed widths of every stage for ``channels`` input channels."""

    wino: IntegerWinograd
    data_range: tuple[int, int]
    weight_range: tuple[int, int]
    channels: int
    stages: dict[str, StageRange]

    def __getitem__(self, name: str) -> StageRange:
        return self.stages[name]

    def bits(self, name: str) -> int:
        return self.stages[name].bits

    def table(self) -> str:
        rows = [f"{'stage':8} {'min':>16} {'max':>16} {'bits':>5}"]
        for s in self.stages.values():
            rows.append(f"{s.name:8} {s.lo:>16} {s.hi:>16} {s.bits:>5}")
        return "\n".join(rows)

    def as_dict(self) -> dict:
        return {
            "algorithm": f"F({self.wino.m}x{self.wino.m},{self.wino.r}x{self.wino.r})",
            "channels": self.channels,
            "stages": {s.name: {"min": s.lo, "max": s.hi, "bits": s.bits}
                       for s in self.stages.values()},
        }


def stage_values(wino: IntegerWinograd, g: np.ndarray, d: np.ndarray, channels: int) -> dict:
    """Every stage's values for one (g, d) pair replicated over ``channels`` channels."""
    g = np.asarray(g, dtype=np.int64)
    d = np.asarray(d, dtype=np.int64)
    v_rows = wino.BT @ d
    v = v_rows @ wino.BT.T
    u = wino.weight_transform(g)
    product = u * v
    acc = product * channels
    y_rows = wino.AT @ acc
    y = y_rows @ wino.AT.T
    return {"d": d, "g": g, "v_rows": v_rows, "v": v, "u": u, "product": product,
            "acc": acc, "y_rows": y_rows, "y": y, "out": y // wino.divisor}


def _linear_extremes(coef: np.ndarray, lo: int, hi: int):
    """Extremes of ``coef @ x`` per row over ``x`` in ``[lo, hi]^k``, with the maximizing x."""
    x_max = np.where(coef > 0, hi, lo)
    x_min = np.where(coef > 0, lo, hi)
    return (coef * x_min).sum(-1), (coef * x_max).sum(-1), x_min, x_max


def _check_range(what: str, rng: tuple[int, int]) -> tuple[int, int]:
    lo, hi = (int(v) for v in rng)
    if lo > hi:
        raise WinnowParameterError(f"{what} range must have min <= max, got [{lo}, {hi}]")
    return lo, hi


def analyze(
    wino: IntegerWinograd = F2x2_3x3,
    data_range: tuple[int, int] = (-255, 255),
    weight_range: tuple[int, int] = (-128, 127),
    channels: int = 1,
) -> DatapathWidths:
    """Exact range of every datapath stage.

    ``data_range`` is the range of the input after zero-point subtraction
    (8-bit activations with an 8-bit zero point give ``[-255, 255]``);
    ``weight_range`` that of ``w - w_zero_point``. ``channels`` is the largest
    number of input channels accumulated in one pass.
    """
    if not isinstance(channels, int) or channels < 1:
        raise WinnowParameterError(f"channels must be a positive integer, not {channels!r}")
    dlo, dhi = _check_range("data", data_range)
    glo, ghi = _check_range("weight", weight_range)
    n, r = wino.n, wino.r
    stages: dict[str, StageRange] = {}

    zeros_g = np.zeros((r, r), dtype=np.int64)
    zeros_d = np.zeros((n, n), dtype=np.int64)
    stages["d"] = StageRange("d", dlo, dhi, (zeros_g, np.full((n, n), dlo)),
                             (zeros_g, np.full((n, n), dhi)), (0, 0), (0, 0))
    stages["g"] = StageRange("g", glo, ghi, (np.full((r, r), glo), zeros_d),
                             (np.full((r, r), ghi), zeros_d), (0, 0), (0, 0))

    # Linear stages: coefficient matrices over the flattened d (n*n) or g (r*r).
    eye_n = np.eye(n, dtype=np.int64)
    lin = {
        "v_rows": (np.kron(wino.BT, eye_n), "d"),  # (BT d)[i, j] = sum_k BT[i,k] d[k,j]
        "v": (np.kron(wino.BT, wino.BT), "d"),
        "u": (np.kron(wino.G, wino.G), "g"),
    }
    for name, (coef, var) in lin.items():
        lo_, hi_ = (dlo, dhi) if var == "d" else (glo, ghi)
        mins, maxs, xmin, xmax = _linear_extremes(coef, lo_, hi_)
        i_lo, i_hi = int(np.argmin(mins)), int(np.argmax(maxs))
        shape = (n, n) if var == "d" else (r, r)
        other = zeros_g if var == "d" else zeros_d

        def wit(x, other=other, shape=shape, var=var):
            x = x.reshape(shape)
            return (other, x) if var == "d" else (x, other)

        stages[name] = StageRange(
            name, int(mins[i_lo]), int(maxs[i_hi]), wit(xmin[i_lo]), wit(xmax[i_hi]),
            np.unravel_index(i_lo, (n, n)), np.unravel_index(i_hi, (n, n)))

    # Bilinear stages: q(g, d) = sum_p c[p] * U_p(g) * V_p(d), p over n*n positions.
    # Each output element is given by its weights c over positions.
    kv = np.kron(wino.BT, wino.BT)  # V_p = kv[p] @ d
    ku = np.kron(wino.G, wino.G)  # U_p = ku[p] @ g
    vertices = np.array(list(itertools.product((glo, ghi), repeat=r * r)), dtype=np.int64)
    u_at_vertices = vertices @ ku.T  # (2**(r*r), n*n)
    forms = {
        "product": np.eye(n * n, dtype=np.int64),  # element p: c = e_p
        "y_rows": np.kron(wino.AT, eye_n),  # (AT M)[i, j]
        "y": np.kron(wino.AT, wino.AT),
    }
    shapes = {"product": (n, n), "y_rows": (wino.m, n), "y": (wino.m, wino.m)}
    for name, c in forms.items():
        # d-coefficients for every (vertex, element): sum_p c[e,p] U_p(vertex) kv[p, :]
        dcoef = np.einsum("ep,vp,pk->vek", c, u_at_vertices, kv)
        mins, maxs, xmin, xmax = _linear_extremes(dcoef, dlo, dhi)  # (vertices, elements)
        v_lo, e_lo = np.unravel_index(int(np.argmin(mins)), mins.shape)
        v_hi, e_hi = np.unravel_index(int(np.argmax(maxs)), maxs.shape)
        lo_, hi_ = int(mins[v_lo, e_lo]), int(maxs[v_hi, e_hi])
        scale = 1 if name == "product" else channels
        wit_lo = (vertices[v_lo].reshape(r, r), xmin[v_lo, e_lo].reshape(n, n))
        wit_hi = (vertices[v_hi].reshape(r, r), xmax[v_hi, e_hi].reshape(n, n))
        idx_lo = np.unravel_index(e_lo, shapes[name])
        idx_hi = np.unravel_index(e_hi, shapes[name])
        stages[name] = StageRange(name, lo_ * scale, hi_ * scale, wit_lo, wit_hi, idx_lo, idx_hi)
        if name == "product":
            p = stages["product"]
            stages["acc"] = StageRange("acc", p.lo * channels, p.hi * channels, p.witness_lo,
                                       p.witness_hi, p.index_lo, p.index_hi)
    y = stages["y"]
    div = wino.divisor
    stages["out"] = StageRange("out", y.lo // div, y.hi // div, y.witness_lo, y.witness_hi,
                               y.index_lo, y.index_hi)
    ordered = {k: stages[k] for k in STAGES}
    return DatapathWidths(wino, (dlo, dhi), (glo, ghi), channels, ordered)


def max_channels(acc_bits: int, wino: IntegerWinograd = F2x2_3x3,
                 data_range: tuple[int, int] = (-255, 255),
                 weight_range: tuple[int, int] = (-128, 127)) -> int:
    """The largest ``C`` whose accumulators and output transform fit ``acc_bits`` signed bits."""
    lo_lim, hi_lim = int_range(acc_bits)
    one = analyze(wino, data_range, weight_range, 1)
    best = None
    for s in ("acc", "y_rows", "y"):
        lo, hi = one[s].lo, one[s].hi
        for lim, v in ((-lo_lim, -lo), (hi_lim, hi)):
            if v > 0:
                best = lim // v if best is None else min(best, lim // v)
    if not best:
        raise WinnowParameterError(f"{acc_bits}-bit accumulators cannot hold even one channel")
    return best
