"""Seeded random layers for the engine with their golden results (test helper).

A case is a flat memory image (inputs, weights, requant table, output space),
the descriptor that programs it and the expected output, computed by the
golden model (``winnow.hls.golden`` and ``winnow.hls.quant``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from core_sim import conv_memory, gemm_memory, read_output
from winnow.hls import golden, quant
from winnow.hls.line_geometry import max_input_width


@dataclass
class Case:
    name: str
    mem: np.ndarray
    desc: dict
    geom: tuple
    expected: np.ndarray
    requant: bool
    gemm_rows: int = 0  # GEMM: rows of A (the output image has roundup(M, 16) rows)

    def output(self, mem: np.ndarray) -> np.ndarray:
        y = read_output(mem, self.geom, requant=self.requant)
        if self.gemm_rows:
            y = y.transpose(1, 2, 0).reshape(-1, y.shape[0])[: self.gemm_rows]
        return y


def _requant(rng, k):
    params = quant.engine_requant_params(
        np.float32(rng.uniform(0.005, 0.05)), rng.uniform(0.001, 0.01, k).astype(np.float32),
        np.float32(rng.uniform(0.2, 2.0)), int(rng.integers(-20, 20)), np.int8,
        relu=bool(rng.random() < 0.3))
    bias = rng.integers(-20000, 20000, k).astype(np.int32)
    return params, bias


def conv_case(cfg, rng, c, h, w, k, pads, requant, dtype=np.int8, extreme=False) -> Case:
    info = np.iinfo(dtype)
    if extreme:
        x = rng.choice([info.min, info.max], (c, h, w)).astype(dtype)
        wt = rng.choice([-128, 127], (k, c, 3, 3)).astype(np.int8)
    else:
        x = rng.integers(info.min, info.max + 1, (c, h, w)).astype(dtype)
        wt = rng.integers(-128, 128, (k, c, 3, 3)).astype(np.int8)
    zp = dtype(rng.integers(info.min, info.max + 1))
    acc = golden.conv2d(x[None], wt, zp, 0, pads)[0]
    rq = None
    expected = acc
    if requant:
        params, bias = _requant(rng, k)
        rq = (bias, params.multiplier, params.shift)
        expected = quant.requantize_engine(acc[None], params, bias=bias, axis=1)[0]
    mem, desc, geom = conv_memory(cfg, x, wt, zp, pads, requant=rq)
    if requant:
        desc.update(out_zp=params.zero_point & 0xFF, relu=int(params.relu), out_signed=1)
    name = f"conv c{c} {h}x{w} k{k} pads{pads} {'q' if requant else 'raw'} {np.dtype(dtype).name}"
    return Case(name, mem, desc, geom, expected, requant)


def gemm_case(cfg, rng, m, kd, n, requant) -> Case:
    a = rng.integers(-128, 128, (m, kd)).astype(np.int8)
    b = rng.integers(-128, 128, (kd, n)).astype(np.int8)
    zp = np.int8(rng.integers(-128, 128))
    acc = golden.gemm(a, b, zp, 0)
    rq, expected = None, acc
    if requant:
        params, bias = _requant(rng, n)
        rq = (bias, params.multiplier, params.shift)
        expected = quant.requantize_engine(acc, params, bias=bias, axis=1)
    mem, desc, geom = gemm_memory(cfg, a, b, zp, requant=rq)
    if requant:
        desc.update(out_zp=params.zero_point & 0xFF, relu=int(params.relu), out_signed=1)
    return Case(f"gemm {m}x{kd}@{kd}x{n} {'q' if requant else 'raw'}", mem, desc, geom,
                expected, requant, gemm_rows=m)


def random_case(cfg, rng) -> Case:
    """One random layer; the mix covers tiny/odd sizes, C=1, partial PE groups, both modes."""
    kind = rng.random()
    requant = bool(rng.random() < 0.4)
    if kind < 0.2:
        kd = int(rng.integers(1, min(24, cfg.max_channels) + 1))
        return gemm_case(cfg, rng, int(rng.integers(1, 50)), kd, int(rng.integers(1, 2 * cfg.pes + 2)),
                         requant)
    pads = tuple(int(v) for v in rng.integers(0, 3, 4))
    c = 1 if rng.random() < 0.2 else int(rng.integers(1, min(cfg.max_channels, 20) + 1))
    k = int(rng.integers(1, 2 * cfg.pes + 3))
    small = [1, 2, 3, 5, 7]
    h = int(rng.choice(small)) if rng.random() < 0.5 else int(rng.integers(1, 12))
    w = int(rng.choice(small)) if rng.random() < 0.5 else int(rng.integers(1, 12))
    h = max(h, 3 - pads[0] - pads[2])
    w = min(max(w, 3 - pads[1] - pads[3]), max_input_width(cfg, c))
    dtype = np.uint8 if rng.random() < 0.3 else np.int8
    return conv_case(cfg, rng, c, h, w, k, pads, requant, dtype, extreme=bool(rng.random() < 0.1))


def edge_cases(cfg, rng) -> list[Case]:
    """The largest C and W the buffers accept, and the extremes."""
    c = cfg.max_channels
    return [
        conv_case(cfg, rng, c, 3, max_input_width(cfg, c), 2, (1, 1, 1, 1), False),
        conv_case(cfg, rng, 1, 3, max_input_width(cfg, 1), cfg.pes + 1, (0, 1, 0, 1), True),
        conv_case(cfg, rng, 3, 1, 1, 1, (1, 1, 1, 1), False, extreme=True),
        conv_case(cfg, rng, 2, 4, 4, 3, (0, 0, 0, 0), False, np.uint8, extreme=True),
        gemm_case(cfg, rng, 17, cfg.max_channels, cfg.pes + 1, False),
    ]
