"""Layers as engine runs: memory images, descriptors and results over a :class:`Driver`.

:class:`LayerRunner` turns one conv or GEMM into the runs that
:mod:`winnow.hls.plan` cuts it into (one per image, channel chunk and column
strip), lays every run's operands out in the engine's memory exactly as
:mod:`winnow.hls.layout` specifies, runs it through the driver and assembles
the int32 result on the host: channel chunks are added, column strips placed
side by side. The engine always runs in raw int32 mode here (requantization
is the runtime's, on the host), so results equal ``ConvInteger`` /
``MatMulInteger`` bit for bit.

Memory: conv weights stay resident from :meth:`load_conv` on (a bump
allocator from the bottom); each run's input and output are placed above
them and released after the run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from winnow.hls import layout
from winnow.hls.config import EngineConfig
from winnow.hls.errors import WinnowParameterError
from winnow.hls.plan import ConvLayer, GemmLayer, Pass, plan_conv, plan_gemm
from winnow.hls.regmap import Mode

from .driver import Counters, Driver, Memory

ALIGN = 4096  # every buffer starts on a page (and so on a bus word, never crossing into another)
MAX_PAD = 2  # the engine accepts pads 0..2; larger pads are applied to the input on the host


@dataclass(frozen=True)
class RunRecord:
    """One engine run: what it was, what the engine counted, what the cycle model predicted."""

    mode: Mode
    counters: Counters
    model_cycles: int
    model_mac: int


@dataclass
class ConvWeights:
    """A conv layer's transformed weights, resident in engine memory, one block per channel chunk."""

    k: int
    c: int
    chunks: dict[tuple[int, int], int]  # (c0, c1) -> address


def _scalar_zp(name: str, zp) -> int:
    if zp is None:
        return 0
    a = np.asarray(zp).reshape(-1)
    if a.size != 1 and np.any(a != a[0]):
        raise WinnowParameterError(f"the engine takes one {name} per layer, not {a.size} different ones")
    return int(a[0])


class LayerRunner:
    """Runs conv and GEMM layers on an engine through ``driver`` with operands in ``memory``."""

    def __init__(self, driver: Driver, memory: Memory, config: EngineConfig | None = None, *,
                 base: int = ALIGN):
        self.driver, self.memory = driver, memory
        self.config = config or driver.config
        self._top = base  # first free byte above the resident weights

    # ------------------------------------------------------------------ memory
    def _alloc(self, top: int, nbytes: int) -> tuple[int, int]:
        addr = layout.roundup(top, ALIGN)
        end = addr + nbytes
        if end > self.memory.size:
            raise WinnowParameterError(
                f"engine memory exhausted: need {end:,} bytes, the board has {self.memory.size:,}")
        return addr, end

    def _put(self, top: int, data: np.ndarray) -> tuple[int, int]:
        addr, end = self._alloc(top, data.nbytes)
        self.memory.write(addr, data)
        return addr, end

    # ------------------------------------------------------------------ conv
    def load_conv(self, w: np.ndarray, w_zero_point=None) -> ConvWeights:
        """Transform ``w[K, C, 3, 3]`` on the host and upload it once, per channel chunk."""
        k, c = w.shape[:2]
        w_zero_point = 0 if w_zero_point is None else w_zero_point
        chunks = {}
        for c0 in range(0, c, self.config.max_channels):
            c1 = min(c, c0 + self.config.max_channels)
            packed = layout.pack_conv_weights(w[:, c0:c1], w_zero_point, self.config.pes,
                                              self.config.wino)
            chunks[(c0, c1)], self._top = self._put(self._top, packed)
        return ConvWeights(k, c, chunks)

    def conv(self, x: np.ndarray, weights: ConvWeights, x_zero_point=None,
             pads=(0, 0, 0, 0)) -> tuple[np.ndarray, list[RunRecord]]:
        """``ConvInteger`` of ``x[N, C, H, W]`` -> int32 ``[N, K, Ho, Wo]`` and the runs it took."""
        if x.ndim != 4 or x.shape[1] != weights.c or x.dtype not in (np.int8, np.uint8):
            raise WinnowParameterError(
                f"conv input must be int8/uint8 [N, {weights.c}, H, W], not {x.dtype} {x.shape}")
        zp = _scalar_zp("input zero point", x_zero_point)
        pads = tuple(int(p) for p in pads)
        if max(pads) > MAX_PAD:  # pad on the host with the zero point down to what the engine takes
            extra = [max(0, p - MAX_PAD) for p in pads]
            x = np.pad(x, ((0, 0), (0, 0), (extra[0], extra[2]), (extra[1], extra[3])),
                       constant_values=np.asarray(zp).astype(x.dtype))
            pads = tuple(min(p, MAX_PAD) for p in pads)
        n, c, h, w = x.shape
        plan = plan_conv(ConvLayer(n, c, h, w, weights.k, pads), self.config)
        y = np.zeros((n, weights.k, plan.layer.ho, plan.layer.wo), dtype=np.int32)
        records = []
        for p in plan.passes:
            (c0, c1), (o0, o1) = p.channels, p.cols
            x0 = max(o0 - pads[1], 0)
            xin = np.ascontiguousarray(x[p.image, c0:c1, :, x0:x0 + p.w])
            part, rec = self._run(p, xin, weights.chunks[(c0, c1)], zp, x.dtype == np.int8)
            records.append(rec)
            if p.accumulate:
                y[p.image, :, :, o0:o1] += part
            else:
                y[p.image, :, :, o0:o1] = part
        return y, records

    # ------------------------------------------------------------------ gemm
    def gemm(self, a: np.ndarray, b: np.ndarray, a_zero_point=None,
             b_zero_point=None) -> tuple[np.ndarray, list[RunRecord]]:
        """``MatMulInteger``: ``a[..., M, Kd] @ b[..., Kd, N]`` -> int32, batch dims broadcast."""
        if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-2]:
            raise WinnowParameterError(f"gemm needs [..., M, Kd] @ [..., Kd, N], got {a.shape} @ {b.shape}")
        zp = _scalar_zp("A zero point", a_zero_point)
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a = np.broadcast_to(a, batch + a.shape[-2:])
        b = np.broadcast_to(b, batch + b.shape[-2:])
        m, kd, n = a.shape[-2], a.shape[-1], b.shape[-1]
        y = np.zeros(batch + (m, n), dtype=np.int32)
        plan = plan_gemm(GemmLayer(m, kd, n), self.config)
        records = []
        bzp = 0 if b_zero_point is None else np.asarray(b_zero_point).astype(np.int64)
        a_fill = np.asarray(zp).astype(a.dtype)  # padding rows of A hold the zero point: they add 0
        for idx in np.ndindex(*batch):
            for p in plan.passes:
                c0, c1 = p.channels
                img = np.ascontiguousarray(layout.gemm_image(a[idx][:, c0:c1], a_fill))
                wts = layout.pack_gemm_weights(b[idx][c0:c1], bzp, self.config.pes)
                top = self._top
                w_addr, self._top = self._put(top, wts)
                try:
                    part, rec = self._run(p, img, w_addr, zp, a.dtype == np.int8)
                finally:
                    self._top = top
                records.append(rec)
                rows = part.transpose(1, 2, 0).reshape(-1, n)[:m]  # pixel (r, col) is row 4r + col
                if p.accumulate:
                    y[idx] += rows
                else:
                    y[idx] = rows
        return y, records

    # ------------------------------------------------------------------ one run
    def _run(self, p: Pass, xin: np.ndarray, w_addr: int, zp: int,
             signed: bool) -> tuple[np.ndarray, RunRecord]:
        """One descriptor: input image ``xin[c, h, w]`` in, raw int32 ``[k, ho, wo]`` out."""
        b = self.config.bus_bytes
        ho, wo, _, _ = p.geometry()
        top = self._top
        in_addr, top = self._put(top, layout.pack_activations(xin, b))
        out_bytes = ho * wo * layout.raw_pitch(p.k, b)
        out_addr, _ = self._alloc(top, out_bytes)
        pt, pl, pb, pr = p.pads
        desc = dict(mode=p.mode, in_addr=in_addr, w_addr=w_addr, q_addr=0, out_addr=out_addr,
                    c=p.c, k=p.k, h=p.h, w=p.w, pad_top=pt, pad_left=pl, pad_bottom=pb,
                    pad_right=pr, in_pitch=layout.activation_pitch(p.c, b),
                    out_pitch=layout.raw_pitch(p.k, b), x_zp=zp & 0xFF, out_zp=0,
                    x_signed=int(signed), requant=0, relu=0, out_signed=0)
        model = p.cycles(self.config)
        counters = self.driver.run(desc, expected_cycles=math.floor(0.97 * model))
        y = layout.unpack_raw(self.memory.read(out_addr, out_bytes), p.k, ho, wo, b)
        return y, RunRecord(p.mode, counters, model, p.compute(self.config))
