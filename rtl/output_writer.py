"""Output writer: pixels of one output-channel group -> AXI write requests and data beats."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from winnow.hls.errors import WinnowParameterError

from ._util import check_config, credit_pipeline
from .requant import RAW_BITS, RequantPipeline, reject, requant_controls

__all__ = ["ADDR_BITS", "OutputWriter"]

#: Byte address width of the write requests (the AXI master's ``awaddr``).
ADDR_BITS = 32
#: Packed pixels buffered after the (never stalling) requantize-and-pack stages; more than
#: their latency plus the FIFO's, so a pixel per cycle flows.
PACK_FIFO_DEPTH = 16


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


class OutputWriter(wiring.Component):
    """Requantizes and packs one pixel's channel group per transfer into memory writes.

    Parameters: ``config`` (:class:`~winnow.hls.config.EngineConfig`, default
    ``EngineConfig()``): ``lanes = config.pes`` channels per pixel transfer, bus
    ``B = config.bus_bytes``; ``acc_bits`` (signed width of ``values``, 2..32,
    default 32).

    Ports
    -----
    ``i``: ``In(stream.Signature(StructLayout))``, one pixel's channel group per
        transfer: ``values`` (``lanes`` x signed ``acc_bits``), ``addr`` (32-bit
        byte address of the group's first channel: ``out_base + pixel * pitch +
        group * lanes * elem_bytes``), ``nlanes`` (valid lanes, 1..``lanes``; only
        their bytes are written; 0 is outside the contract), and the requantization controls of
        :func:`~winnow.rtl.requant.requant_controls` (per lane ``bias``,
        ``multiplier``, ``shift``; shared ``zero_point``, ``out_signed``,
        ``relu``, ``enable``), carried per transfer in the payload so the
        controller may change them with every group.
    ``aw``: ``Out(stream.Signature(StructLayout({"addr": 32, "beats": ...})))``,
        one write request per pixel: ``addr`` aligned down to ``B``, ``beats``
        (1..:attr:`max_beats`) consecutive bus words (AXI ``awlen = beats - 1``).
    ``w``: ``Out(stream.Signature(StructLayout({"data": 8B, "strb": B, "last": 1})))``,
        the request's beats in order; ``last`` marks its final beat.

    Memory format (``winnow.hls.layout``): with ``enable`` each lane is one
    byte (the int8/uint8 result: ``pack_activations``), without it four bytes,
    the raw accumulator as little-endian int32 (``pack_raw``; bias etc. are
    ignored, see :class:`~winnow.rtl.requant.Requantizer`). Lane ``k`` goes to
    ``addr + k * elem_bytes``. The span ``nlanes * elem_bytes`` bytes starting at
    ``addr`` is placed at ``addr % B`` of the first beat; strobes are set on
    exactly the span's bytes. Any byte address is accepted, so a span may cross
    one or more beat boundaries: :attr:`max_beats` ``= ceil((B - 1 + 4 lanes) / B)``.

    The ``aw`` and ``w`` streams are independent: a request may be accepted
    before, during or after its data; the next pixel's request is offered
    only after this pixel's request *and* all its beats were accepted. (An AXI
    master puts them on AW and W directly; both orders are legal AXI4.)

    Timing: the :class:`~winnow.rtl.requant.Requantizer`'s 8 stages (inline,
    :class:`~winnow.rtl.requant.RequantPipeline`: one Verilog module) and a pack
    stage (lane bytes, byte mask, beat count), all loading every cycle, then a
    :data:`PACK_FIFO_DEPTH`-entry FIFO (2 cycles) and the beat register (span
    shifted to its byte offset), which then shifts down one bus word per
    accepted beat. Latency :attr:`latency` = 12 cycles from an input transfer to
    ``aw.valid``/``w.valid``. Throughput one pixel per cycle when its span fits
    one beat, else one beat per cycle (``beats`` cycles per pixel), while ``aw``
    and ``w`` are ready. Back-pressure: ``i.ready`` is high while fewer than
    :data:`PACK_FIFO_DEPTH` pixels are in the stages and the FIFO
    (:func:`~winnow.rtl._util.credit_pipeline`): it depends on registers only.
    """

    latency = RequantPipeline.latency + 4

    def __init__(self, config=None, acc_bits: int = 32):
        self.config = check_config(self, config)
        self.lanes = lanes = self.config.pes
        self.bus_bytes = bus = self.config.bus_bytes
        self.offset_bits = (bus - 1).bit_length()
        self.span_bytes = lanes * RAW_BITS // 8  # the widest span: raw int32 lanes
        self.max_beats = _cdiv(bus - 1 + self.span_bytes, bus)
        self.tag = data.StructLayout({"addr": ADDR_BITS, "nlanes": range(lanes + 1)})
        try:
            self.requant = RequantPipeline(lanes, acc_bits, tag_shape=self.tag)
        except WinnowParameterError as e:
            raise reject(self, str(e)) from None
        self.acc_bits = self.requant.widths.acc_bits
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "values": data.ArrayLayout(signed(self.acc_bits), lanes),
                "addr": ADDR_BITS, "nlanes": range(lanes + 1), **requant_controls(lanes)}))),
            "aw": Out(stream.Signature(data.StructLayout({
                "addr": ADDR_BITS, "beats": range(self.max_beats + 1)}))),
            "w": Out(stream.Signature(data.StructLayout({
                "data": 8 * bus, "strb": bus, "last": 1}))),
        })

    def _pack(self, r) -> dict:
        """Pack stage: lane bytes (raw or requantized), byte mask, offset, beat count."""
        lanes, bus, ob = self.lanes, self.bus_bytes, self.offset_bits
        req, addr, nlanes = r.requantized, r.tag.addr, r.tag.nlanes
        lane_ok = [Const(k) < nlanes for k in range(lanes)]
        raw_bytes = Cat(*(r.value[k] for k in range(lanes)))
        req_bytes = Cat(*(r.value[k][:8] for k in range(lanes)))
        raw_mask = Cat(*(ok.replicate(RAW_BITS // 8) for ok in lane_ok))
        span = Mux(req, nlanes, nlanes * (RAW_BITS // 8))
        offset = addr[:ob]
        return {
            "bytes": Mux(req, req_bytes, raw_bytes),
            "mask": Mux(req, Cat(*lane_ok), raw_mask),
            "offset": offset,
            "beats": (offset + span + bus - 1) >> ob,
            "addr": Cat(Const(0, ob), addr[ob:]),
        }

    def elaborate(self, platform):
        m = Module()
        bus, ob = self.bus_bytes, self.offset_bits

        # The requantizer's input: the same payload, renamed (wires only).
        rq_in = stream.Signature(self.requant.input_layout).create(path=("rq_in",))
        i, r = self.i.payload, rq_in.payload
        m.d.comb += [
            rq_in.valid.eq(self.i.valid),
            self.i.ready.eq(rq_in.ready),
            r.acc.eq(i.values),
            r.tag.addr.eq(i.addr),
            r.tag.nlanes.eq(i.nlanes),
        ]
        m.d.comb += [r[f].eq(i[f]) for f in requant_controls(self.lanes)]

        # Requantizer stages, then the pack stage, inline in this module.
        packed = stream.Signature(data.StructLayout({
            "bytes": self.span_bytes * 8, "mask": self.span_bytes,
            "offset": ob, "beats": range(self.max_beats + 1), "addr": ADDR_BITS,
        })).create(path=("wr_pack",))
        credit_pipeline(m, rq_in, packed, self.requant.stages("rq") + [("wr_pack", None, self._pack)],
                        depth=PACK_FIFO_DEPTH, name="wr_pack")

        # Beat register: one pixel's span at its offset, shifted out one bus word per beat.
        window_bytes = self.max_beats * bus
        window = Signal(8 * window_bytes)
        strobes = Signal(window_bytes)
        full, aw_done = Signal(), Signal()
        left = Signal(range(self.max_beats + 1))
        addr = Signal(ADDR_BITS)
        beats = Signal(range(self.max_beats + 1))
        aw_fire = Signal()
        w_fire = Signal()
        done = Signal()
        load = Signal()
        m.d.comb += [
            self.aw.valid.eq(full & ~aw_done),
            self.aw.payload.addr.eq(addr),
            self.aw.payload.beats.eq(beats),
            self.w.valid.eq(full & (left != 0)),
            self.w.payload.data.eq(window[:8 * bus]),
            self.w.payload.strb.eq(strobes[:bus]),
            self.w.payload.last.eq(left == 1),
            aw_fire.eq(self.aw.valid & self.aw.ready),
            w_fire.eq(self.w.valid & self.w.ready),
            done.eq(full & (aw_done | aw_fire) & ((left == 0) | ((left == 1) & w_fire))),
            load.eq(~full | done),
            packed.ready.eq(load),
        ]
        p = packed.payload
        with m.If(load):
            m.d.sync += [full.eq(packed.valid), aw_done.eq(0)]
            with m.If(packed.valid):
                m.d.sync += [
                    window.eq(p.bytes << Cat(Const(0, 3), p.offset)),
                    strobes.eq(p.mask << p.offset),
                    left.eq(p.beats), beats.eq(p.beats), addr.eq(p.addr),
                ]
        with m.Else():
            with m.If(aw_fire):
                m.d.sync += aw_done.eq(1)
            with m.If(w_fire):
                m.d.sync += [window.eq(window >> (8 * bus)), strobes.eq(strobes >> bus),
                             left.eq(left - 1)]
        return m
