"""Engine requantizer: ``lanes`` int32 accumulators -> int8/uint8 (or raw int32), pipelined.

The arithmetic is :func:`winnow.hls.quant.requantize_engine`, bit for bit; every
width comes from :func:`winnow.hls.quant.requant_widths`.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from winnow.hls.errors import WinnowParameterError
from winnow.hls.quant import SHIFT_MAX, SHIFT_MIN, requant_widths, signed_bits

from ._util import StructStage, struct_pipeline

__all__ = ["MUL_SPLIT", "PARTIAL_PRODUCTS", "RAW_BITS", "SHIFT_BITS", "RequantPipeline", "Requantizer",
           "requant_controls"]

#: Raw (not requantized) outputs are int32, as stored by ``winnow.hls.layout.pack_raw``.
RAW_BITS = 32
#: Signed width of the per-channel shift ``s`` in [SHIFT_MIN, SHIFT_MAX].
SHIFT_BITS = signed_bits(SHIFT_MIN, SHIFT_MAX)
#: ``v`` and ``M`` are both split as ``x = x_hi * 2**MUL_SPLIT + x_lo``: a 17-bit unsigned
#: ``x_lo`` is what one operand port of a signed 18x18 (or 25x18) DSP multiplier takes, so
#: each of the four partial products is one DSP block with nothing after it in its stage.
MUL_SPLIT = 17
#: The partial products of ``v * M`` (stage 2), each one DSP block: the blocks per lane.
#: Named by the parts they multiply: ``v``'s low or high part, then ``M``'s.
PARTIAL_PRODUCTS = ("ll", "lh", "hl", "hh")


def _part(x, which: str, signed_high: bool):
    """The low (``"l"``, unsigned) or high (``"h"``) :data:`MUL_SPLIT` split of ``x``."""
    if which == "l":
        return x[:MUL_SPLIT]
    return x[MUL_SPLIT:].as_signed() if signed_high else x[MUL_SPLIT:]

_I8, _U8 = np.iinfo(np.int8), np.iinfo(np.uint8)
#: Signed width holding a zero point of either output type, ``[-128, 255]``.
_ZP_BITS = signed_bits(int(_I8.min), int(_U8.max))


def reject(owner, message: str) -> WinnowParameterError:
    """The error for a bad constructor parameter of ``owner`` (which is never elaborated)."""
    owner._MustUse__silence = True  # Amaranth's opt-out of the UnusedElaboratable warning
    return WinnowParameterError(f"{type(owner).__name__} {message}")


def check_lanes(owner, lanes) -> int:
    if not isinstance(lanes, int) or isinstance(lanes, bool) or not 1 <= lanes <= 64:
        raise reject(owner, f"lanes must be an integer in [1, 64], not {lanes!r}")
    return lanes


def requant_controls(lanes: int) -> dict:
    """Requantization controls of one transfer: per-lane ``bias``/``multiplier``/``shift``,
    shared ``zero_point``/``out_signed``/``relu``/``enable`` (a StructLayout field dict)."""
    w = requant_widths()
    return {
        "bias": data.ArrayLayout(signed(w.bias_bits), lanes),
        "multiplier": data.ArrayLayout(unsigned(w.multiplier_bits), lanes),
        "shift": data.ArrayLayout(signed(SHIFT_BITS), lanes),
        "zero_point": unsigned(w.out_bits),
        "out_signed": 1,
        "relu": 1,
        "enable": 1,
    }


class RequantPipeline:
    """The requantizer's payload layouts and register stages, for any module to instantiate.

    :class:`Requantizer` wraps them as a component; a block that wants them inline
    in its own pipeline (one Verilog module, no hierarchy) appends :meth:`stages`
    to its stage list. Parameters are validated by the caller.
    """

    latency = 8

    def __init__(self, lanes: int, acc_bits: int, tag_shape=None):
        self.lanes = lanes
        self.widths = requant_widths(acc_bits)
        self.tag = {} if tag_shape is None else {"tag": tag_shape}

    @property
    def input_layout(self) -> data.StructLayout:
        return data.StructLayout({"acc": data.ArrayLayout(signed(self.widths.acc_bits), self.lanes),
                                  **requant_controls(self.lanes), **self.tag})

    @property
    def output_layout(self) -> data.StructLayout:
        return data.StructLayout({"value": data.ArrayLayout(signed(RAW_BITS), self.lanes),
                                  "requantized": 1, **self.tag})

    def _layouts(self) -> dict[str, data.StructLayout]:
        w, lanes = self.widths, self.lanes
        ctrl = data.StructLayout({"enable": 1, "zp": signed(_ZP_BITS), "lo": signed(w.clamp_bits),
                                  "hi": signed(w.clamp_bits), **self.tag})
        v_lo = Signal(unsigned(MUL_SPLIT))
        v_hi = Signal(signed(w.sum_bits - MUL_SPLIT))
        m_lo = Signal(unsigned(MUL_SPLIT))
        m_hi = Signal(unsigned(w.multiplier_bits - MUL_SPLIT))
        half = (v_hi * m_lo + (v_hi * m_hi << MUL_SPLIT)).shape()
        vp, mp = {"l": v_lo, "h": v_hi}, {"l": m_lo, "h": m_hi}
        nm1 = unsigned(w.shift_bits)  # n - 1 = 30 + s, in [0, 61]
        return {
            "sum": data.StructLayout({
                "v": data.ArrayLayout(signed(w.sum_bits), lanes),
                "m": data.ArrayLayout(unsigned(w.multiplier_bits), lanes),
                "nm1": data.ArrayLayout(nm1, lanes), "ctrl": ctrl}),
            "partial": data.StructLayout({
                **{n: data.ArrayLayout((vp[n[0]] * mp[n[1]]).shape(), lanes) for n in PARTIAL_PRODUCTS},
                "nm1": data.ArrayLayout(nm1, lanes), "ctrl": ctrl}),
            "halves": data.StructLayout({
                "lo": data.ArrayLayout((v_lo * m_lo + (v_lo * m_hi << MUL_SPLIT)).shape(), lanes),
                "hi": data.ArrayLayout(half, lanes),
                "nm1": data.ArrayLayout(nm1, lanes), "ctrl": ctrl}),
            "product": data.StructLayout({
                "p": data.ArrayLayout(signed(w.product_bits), lanes),
                "nm1": data.ArrayLayout(nm1, lanes), "ctrl": ctrl}),
            "shifted": data.StructLayout({
                "s": data.ArrayLayout(signed(w.rounded_bits + 1), lanes), "ctrl": ctrl}),
            "rounded": data.StructLayout({
                "t": data.ArrayLayout(signed(w.rounded_bits), lanes), "ctrl": ctrl}),
            "compared": data.StructLayout({
                "t": data.ArrayLayout(signed(w.rounded_bits), lanes),
                "tz": data.ArrayLayout(signed(w.clamp_bits + 1), lanes),
                "fits": data.ArrayLayout(1, lanes), "lt": data.ArrayLayout(1, lanes),
                "gt": data.ArrayLayout(1, lanes),
                "lo": signed(_ZP_BITS + 1), "hi": signed(_ZP_BITS + 1), "enable": 1, **self.tag}),
        }

    def _first(self, i) -> dict:
        """Stage 1: ``v = acc + bias``, raw-mode substitutions, clamp bounds."""
        lanes, en = range(self.lanes), i.enable
        raw_m = Const(1 << 30, unsigned(self.widths.multiplier_bits))  # t = acc for s = -1
        zp = Mux(i.out_signed, i.zero_point.as_signed(), i.zero_point)
        q_lo = Mux(i.out_signed, int(_I8.min), int(_U8.min))
        q_hi = Mux(i.out_signed, int(_I8.max), int(_U8.max))
        ctrl = {"enable": en, "zp": zp, "lo": Mux(i.relu, 0, q_lo - zp), "hi": q_hi - zp}
        if self.tag:
            ctrl["tag"] = i.tag
        return {
            "v": [i.acc[k] + Mux(en, i.bias[k], 0) for k in lanes],
            "m": [Mux(en, i.multiplier[k], raw_m) for k in lanes],
            "nm1": [Mux(en, 30 + i.shift[k], 29) for k in lanes],
            "ctrl": ctrl,
        }

    def _compare(self, r) -> dict:
        """Stage 7: the narrow clamp comparisons, ``t + zp`` and the bounds plus ``zp``."""
        c, lanes, cb = r.ctrl, range(self.lanes), self.widths.clamp_bits
        # ``t`` is wide (up to the product's width) and the bounds are ``clamp_bits`` wide: when
        # ``t`` fits ``clamp_bits`` (its top bits all equal its sign) a narrow comparison decides,
        # otherwise its sign does. No comparator as wide as ``t``.
        fits = [(r.t[k][cb - 1:] == 0) | r.t[k][cb - 1:].all() for k in lanes]
        low = [r.t[k][:cb].as_signed() for k in lanes]
        out = {"t": r.t, "tz": [low[k] + c.zp for k in lanes], "fits": fits,
               "lt": [low[k] < c.lo for k in lanes], "gt": [low[k] > c.hi for k in lanes],
               "lo": c.lo + c.zp, "hi": c.hi + c.zp, "enable": c.enable}
        if self.tag:
            out["tag"] = c.tag
        return out

    def _last(self, r) -> dict:
        """Stage 8: clamped ``t + zp`` (requantized) or ``t = acc`` (raw), a selection only."""
        lanes = range(self.lanes)
        below = [Mux(r.fits[k], r.lt[k], r.t[k][-1]) for k in lanes]
        above = [Mux(r.fits[k], r.gt[k], ~r.t[k][-1]) for k in lanes]
        out = {"value": [Mux(r.enable, Mux(below[k], r.lo, Mux(above[k], r.hi, r.tz[k])), r.t[k])
                         for k in lanes],
               "requantized": r.enable}
        if self.tag:
            out["tag"] = r.tag
        return out

    def stages(self, prefix: str = "rq") -> list[StructStage]:
        """The eight stages for :func:`struct_pipeline`, input :attr:`input_layout`,
        output :attr:`output_layout`."""
        lanes, lay = range(self.lanes), self._layouts()
        return [
            (f"{prefix}_sum", lay["sum"], self._first),
            (f"{prefix}_partial", lay["partial"], lambda s: {
                **{n: [_part(s.v[k], n[0], True) * _part(s.m[k], n[1], False) for k in lanes]
                   for n in PARTIAL_PRODUCTS},
                "nm1": s.nm1, "ctrl": s.ctrl}),
            (f"{prefix}_halves", lay["halves"], lambda pp: {
                "lo": [pp.ll[k] + (pp.lh[k] << MUL_SPLIT) for k in lanes],
                "hi": [pp.hl[k] + (pp.hh[k] << MUL_SPLIT) for k in lanes],
                "nm1": pp.nm1, "ctrl": pp.ctrl}),
            (f"{prefix}_product", lay["product"], lambda h: {
                "p": [(h.hi[k] << MUL_SPLIT) + h.lo[k] for k in lanes],
                "nm1": h.nm1, "ctrl": h.ctrl}),
            (f"{prefix}_shifted", lay["shifted"], lambda pr: {
                "s": [pr.p[k] >> pr.nm1[k] for k in lanes], "ctrl": pr.ctrl}),
            (f"{prefix}_rounded", lay["rounded"], lambda sh: {
                # (p >> n) + p[n-1] == ((p >> (n-1)) + 1) >> 1
                "t": [(sh.s[k] + 1) >> 1 for k in lanes], "ctrl": sh.ctrl}),
            (f"{prefix}_compared", lay["compared"], self._compare),
            (f"{prefix}_out", self.output_layout, self._last),
        ]


class Requantizer(wiring.Component):
    """``lanes`` parallel engine requantizers behind one stream handshake.

    Parameters: ``lanes`` (1..64), ``acc_bits`` (signed accumulator width, 2..32,
    default 32), ``tag_shape`` (optional shape carried unchanged from input to
    output alongside each transfer, e.g. the address of the pixel; default none).

    Ports
    -----
    ``i``: ``In(stream.Signature(StructLayout))`` with fields
        ``acc`` (``lanes`` x signed ``acc_bits``), then :func:`requant_controls`:
        ``bias`` (``lanes`` x signed 32), ``multiplier`` (``lanes`` x unsigned 31),
        ``shift`` (``lanes`` x signed :data:`SHIFT_BITS` = 6), ``zero_point`` (8 bits:
        int8 two's complement when ``out_signed``, else uint8), ``out_signed``
        (1: int8 output, 0: uint8), ``relu`` (clamp low at the zero point),
        ``enable`` (0: raw mode), and ``tag`` if ``tag_shape`` was given.
    ``o``: ``Out(stream.Signature(StructLayout))`` with fields ``value``
        (``lanes`` x signed :data:`RAW_BITS` = 32), ``requantized`` (the input's
        ``enable``) and ``tag``. Requantized, ``value[k]`` is the int8/uint8 result
        as an integer (so its low 8 bits are the byte to store); raw, it is
        ``acc[k]`` unchanged (sign-extended; bias, multiplier, shift and zero point
        are ignored).

    Arithmetic (exact; equal to ``requantize_engine`` for every input): ``v = acc +
    bias``; ``p = v * M``; ``t = (p >> n) + p[n-1]`` with ``n = 31 + s`` (round half
    up); ``y = clamp(t, lo - zp, hi - zp) + zp`` with ``[lo, hi]`` the output type's
    range and ``lo = zp`` under ReLU. Contract: ``shift`` in [SHIFT_MIN, SHIFT_MAX]
    (``-32, -31`` give meaningless results); any 31-bit ``M`` is exact, not only
    normalized ones. Raw mode runs ``acc`` through the same datapath with ``bias =
    0``, ``M = 2**30``, ``s = -1`` (``t = acc`` exactly) and skips the clamp.

    Timing, one register stage each: (1) ``v``, the bounds ``lo - zp``/``hi - zp``
    and the sign-extended zero point; (2) the four partial products of ``v`` and ``M``
    both split at :data:`MUL_SPLIT` (one DSP block each, nothing after it: 4
    MULT18X18D or DSP48E1 per lane); (3) the low and high halves; (4) ``p``;
    (5) ``p >> (n - 1)`` (the barrel shift alone); (6) ``t`` (+1, >> 1);
    (7) the narrow clamp comparisons (``t`` fits the clamp width?), ``t + zp`` and the
    bounds plus ``zp``, in parallel;
    (8) the clamp decision and a selection into ``o.payload``: no stage chains two
    carry chains (one adder or comparator, or one shifter, per stage, for the clock).
    Latency
    :attr:`latency` = 8 cycles, throughput one transfer per cycle while ``o.ready``
    is high. Back-pressure: a stage holds while the next one is full and stalled,
    so a stalled ``o`` holds its payload and up to 8 transfers are in flight;
    ``i.ready`` depends combinationally on ``o.ready`` (no skid buffer). The stages
    themselves are :class:`RequantPipeline`'s, which other blocks inline.
    """

    latency = RequantPipeline.latency

    def __init__(self, lanes: int, acc_bits: int = 32, tag_shape=None):
        self.lanes = check_lanes(self, lanes)
        if tag_shape is not None:
            try:
                Shape.cast(tag_shape)
            except TypeError as e:
                raise reject(self, f"tag_shape must be a shape, not {tag_shape!r}") from e
        try:
            self.pipeline = RequantPipeline(lanes, acc_bits, tag_shape)
        except WinnowParameterError as e:
            raise reject(self, str(e)) from None
        self.acc_bits = self.pipeline.widths.acc_bits
        super().__init__({
            "i": In(stream.Signature(self.pipeline.input_layout)),
            "o": Out(stream.Signature(self.pipeline.output_layout)),
        })

    def elaborate(self, platform):
        m = Module()
        struct_pipeline(m, self.i, self.o, self.pipeline.stages())
        return m
