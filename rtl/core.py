"""The engine core: descriptor check, loaders, tile issue, datapath, output.

Schedule (the model of :mod:`winnow.hls.plan`): for each group of ``pes``
output channels ``g``, for each band of tile rows, for each tile, for each
input channel ``c``: one transformed input tile ``V`` enters all PEs, each
multiplying by its own ``U[g, pe, c]``. Concurrent processes:

* **row loader** (read client 0) streams input rows (all pixels and channels
  of one row per request) into the :class:`LineBuffer` ring of 8 rows, in the
  order the bands need them, group after group; it may run up to 8 rows
  ahead of the first row still in use.
* **weight loader** (read client 1) streams a group's transformed weights into
  one slot of the double-buffered :class:`WeightBuffer`, then the group's
  requantization entries; a slot is refilled once its group's last pixel has
  left the serializer.
* **issue** walks groups, bands, tiles and channels, one tile read per cycle,
  once the band's rows and the group's weights are loaded.
* **datapath**: bank reads -> tile gather (rotation, padding, zero point) ->
  :class:`InputTransform` (bypassed in GEMM mode) -> join with ``U`` -> PEs ->
  :class:`OutputTransform` (conv) -> serializer (one pixel per cycle with its
  address) -> :class:`OutputWriter` -> write client. The PEs and output
  transforms never stall: a tile's last channel joins only while fewer than
  two output blocks are between the join and the writer.

A layer ends when everything issued has been written and acknowledged; an
AXI error or ABORT stops issue and requests, lets what is in flight drain (so
the AXI port is left clean) and ends with the error code.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out
from winnow.hls.errors import WinnowParameterError
from winnow.hls.layout import Q_ENTRY_BYTES, U_VECTOR_BYTES, requant_group_bytes
from winnow.hls.plan import MUL_BITS, MUL_RESULT_BITS, MUL_STEPS, SIZE_BITS, div_cycles
from winnow.hls.regmap import ADDR_BITS, Error, Mode

from ._util import check_config, tile_layout
from .axi_master import read_beat_layout, request_layout, write_beat_layout
from .input_transform import InputTransform
from .line_buffer import BANKS, RING_ROWS, LineBuffer
from .output_transform import OutputTransform
from .output_writer import OutputWriter
from .pe import WinogradPE
from .weight_buffer import WeightBuffer

ROW_REQUESTS = 4  # input rows requested ahead of their data
WRITE_FIFO_DEPTH = 8  # write requests and beats buffered between the writer and the master
TILE_FIFO_DEPTH = 12  # gathered tiles between the (never stalling) gather and the input transform


def descriptor_layout() -> data.StructLayout:
    """The layer descriptor as the register file holds it (one field per register field)."""
    return data.StructLayout({
        "mode": 32, "in_addr": 32, "w_addr": 32, "q_addr": 32, "out_addr": 32,
        "c": 32, "k": 32, "h": 32, "w": 32,
        "pad_top": 4, "pad_left": 4, "pad_bottom": 4, "pad_right": 4,
        "in_pitch": 32, "out_pitch": 32, "x_zp": 8, "out_zp": 8,
        "x_signed": 1, "requant": 1, "relu": 1, "out_signed": 1,
    })


def _log2(v: int) -> int:
    return v.bit_length() - 1


class EngineCore(wiring.Component):
    """Everything between the register file and the AXI master.

    Ports: ``desc`` (descriptor, sampled at ``start``), ``start``/``abort``
    pulses; ``busy``, ``done``, ``error`` (:class:`~winnow.hls.regmap.Error`);
    64-bit counters ``cycles`` (of the last layer, start to done), ``busy_cycles``
    (all layers), ``stall_cycles`` (issue waiting for rows or weights) and
    ``mac_cycles`` (channels entering the PEs); the AXI master's client ports
    ``rd_req``/``rd_data`` (2 clients: rows, weights), ``wr_req``/``wr_data``,
    and ``write_idle``, ``read_error``, ``write_error``, ``error_clear``.
    """

    def __init__(self, config=None):
        self.config = cfg = check_config(self, config)
        b = cfg.bus_bytes
        if cfg.m != 2 or b not in (16, 32):
            self._MustUse__silence = True
            raise WinnowParameterError(
                f"the engine RTL implements F(2x2,3x3) with bus_bytes 16 or 32; got m={cfg.m}, "
                f"bus_bytes={b}")
        self.line = LineBuffer(cfg)
        self.half = self.line.depth // 2
        req = stream.Signature(request_layout())
        super().__init__({
            "desc": In(descriptor_layout()),
            "start": In(1), "abort": In(1),
            "busy": Out(1), "done": Out(1), "error": Out(8),
            "cycles": Out(64), "busy_cycles": Out(64), "stall_cycles": Out(64),
            "mac_cycles": Out(64),
            "rd_req": Out(req).array(2),
            "rd_data": In(stream.Signature(read_beat_layout(b))).array(2),
            "wr_req": Out(req),
            "wr_data": Out(stream.Signature(write_beat_layout(b))),
            "write_idle": In(1), "read_error": In(1), "write_error": In(1),
            "error_clear": Out(1),
        })

    def elaborate(self, platform):  # noqa: C901 (one schedule, read top to bottom)
        m = Module()
        cfg = self.config
        P, B, maxc = cfg.pes, cfg.bus_bytes, cfg.max_channels
        HALF = self.half
        lb_bits = self.line.addr_bits
        m.submodules.line = line = self.line
        m.submodules.wbuf = wbuf = WeightBuffer(cfg)
        m.submodules.itx = itx = InputTransform(cfg, bypass=True)
        pes = [WinogradPE(cfg) for _ in range(P)]
        otxs = [OutputTransform(cfg) for _ in range(P)]
        for p in range(P):
            m.submodules[f"pe{p}"] = pes[p]
            m.submodules[f"otx{p}"] = otxs[p]
        m.submodules.writer = writer = OutputWriter(cfg)

        def slot_addr(slot, channel):
            """The weight-buffer address of ``channel`` in double-buffer ``slot``."""
            if maxc & (maxc - 1) == 0:
                return Cat(channel[:_log2(maxc)], slot)
            return Mux(slot, maxc, 0) + channel

        def ring_addr(upper, word):
            """The line-buffer address of ``word`` in the lower or ``upper`` half of the ring."""
            if HALF & (HALF - 1) == 0:  # no adder: the half is the top address bit
                return Cat(word[:_log2(HALF)], upper)
            return Mux(upper, HALF, 0) + word

        # ---------------------------------------------------------------- descriptor
        d = Signal(descriptor_layout())  # working copy, latched at start
        c_bits = maxc.bit_length()
        C = Signal(c_bits)
        K, H, W = Signal(SIZE_BITS), Signal(SIZE_BITS), Signal(SIZE_BITS)
        gemm = Signal()
        Ho, Wo = Signal(SIZE_BITS + 1), Signal(SIZE_BITS + 1)
        TH, TW = Signal(SIZE_BITS), Signal(SIZE_BITS)
        G = Signal(SIZE_BITS)
        CW = Signal(ADDR_BITS)  # bus words per input pixel
        stride = Signal(3)
        row_beats = Signal(ADDR_BITS)  # W * CW
        in_row_bytes = Signal(ADDR_BITS + 1)  # W * in_pitch
        out_row_bytes = Signal(ADDR_BITS + 1)  # Wo * out_pitch
        w_group_bytes = Signal(ADDR_BITS + 1)  # C * P * 32
        q_group_bytes = requant_group_bytes(P, B)  # one group's requant entries, bus-aligned
        total_rows = Signal(2 * SIZE_BITS)  # G * H
        tiles = Signal(2 * SIZE_BITS)  # TH * TW

        # Loop bounds minus one, for the loops' last-iteration tests (set by the check)
        last = Signal(data.StructLayout({"C": c_bits, "TW": SIZE_BITS, "TH": SIZE_BITS,
                                         "G": SIZE_BITS, "tiles": 2 * SIZE_BITS, "H": SIZE_BITS,
                                         "CW": ADDR_BITS}))
        # Extents for the address check (products, then plus the base address)
        ext_in, ext_w, ext_out, ext_q = (Signal(MUL_RESULT_BITS) for _ in range(4))
        quad_words = Signal(MUL_RESULT_BITS)  # ceil(W / 4) * CW: line-buffer words of a row
        # Sequential multiplier (MUL state) and divider (DIV state)
        mul_step = Signal(range(MUL_STEPS))
        mul_cnt = Signal(range(MUL_BITS + 1))
        mul_a = Signal(MUL_BITS)
        mul_b, mul_acc = Signal(MUL_RESULT_BITS), Signal(MUL_RESULT_BITS)
        div_num = Signal(SIZE_BITS + 1)
        div_rem = Signal(SIZE_BITS + 1)
        div_cnt = Signal(range(SIZE_BITS + 1))
        mul_ovf = Signal()  # a product did not fit its register
        bad = Signal(data.StructLayout({k: 1 for k in (  # the descriptor checks that failed
            "mode", "zero", "channels", "size", "gemm_pad", "conv_pad", "pitch", "addr")}))
        err = Signal(8)

        running = Signal()  # issuing / loading
        draining = Signal()  # stopped by an error or abort; waiting for quiescence
        m.d.comb += self.busy.eq(running | draining)

        # ---------------------------------------------------------------- counters
        m.d.comb += self.error.eq(err)
        busy_cnt, cyc_cnt, stall_cnt, mac_cnt = (Signal(64) for _ in range(4))
        m.d.comb += [self.busy_cycles.eq(busy_cnt), self.cycles.eq(cyc_cnt),
                     self.stall_cycles.eq(stall_cnt), self.mac_cycles.eq(mac_cnt)]
        with m.If(self.busy):
            m.d.sync += busy_cnt.eq(busy_cnt + 1)

        # ---------------------------------------------------------------- control FSM
        # Loop state shared by the processes below.
        g_issue = Signal(SIZE_BITS)  # group being issued
        issue_done = Signal()
        w_loaded = Signal(SIZE_BITS + 1)  # groups whose weights (and requant) are in
        groups_out = Signal(SIZE_BITS + 1)  # groups whose last pixel left the serializer
        rows_loaded = Signal(2 * SIZE_BITS)  # rows written into the ring (row stream order)
        loaders_idle = Signal()
        items_issued, items_joined = Signal(40), Signal(40)
        tiles_issued, blocks_out = Signal(40), Signal(40)
        pixels_in, requests_out = Signal(40), Signal(40)
        quiescent = Signal()
        stop = Signal()  # abort or error requested: stop issue and requests

        m.d.comb += self.error_clear.eq(0)
        m.d.comb += quiescent.eq(loaders_idle & (items_issued == items_joined)
                                 & (tiles_issued == blocks_out) & (pixels_in == requests_out)
                                 & self.write_idle & ~writer.i.valid)

        dv = self.desc
        pt, pl, pb, pr = (Signal(4) for _ in range(4))
        m.d.comb += [pt.eq(d.pad_top), pl.eq(d.pad_left), pb.eq(d.pad_bottom), pr.eq(d.pad_right)]

        with m.FSM(name="ctrl") as ctrl:
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [d.eq(dv), self.done.eq(0), err.eq(0), cyc_cnt.eq(0),
                                 stall_cnt.eq(0), mac_cnt.eq(0)]
                    m.d.comb += self.error_clear.eq(1)
                    m.next = "CHECK0"
            with m.State("CHECK0"):
                # Sizes, geometry and simple checks.
                is_gemm = d.mode == Mode.GEMM
                m.d.sync += [
                    gemm.eq(is_gemm),
                    C.eq(d.c), K.eq(d.k), H.eq(d.h), W.eq(d.w),
                    CW.eq(d.in_pitch >> _log2(B)),
                    stride.eq(Mux(is_gemm, 4, 2)),
                ]
                with m.If(is_gemm):
                    m.d.sync += [Ho.eq(d.h), Wo.eq(4)]
                with m.Else():
                    m.d.sync += [Ho.eq(d.h + pt + pb - 2), Wo.eq(d.w + pl + pr - 2)]
                # Each check into its own flag here; their priority is decided next cycle.
                bad_size = (d.h >> SIZE_BITS != 0) | (d.w >> SIZE_BITS != 0) | (d.k >> SIZE_BITS != 0)
                m.d.sync += [
                    bad.mode.eq(d.mode > Mode.GEMM),
                    bad.zero.eq((d.c == 0) | (d.k == 0) | (d.h == 0) | (d.w == 0)),
                    bad.channels.eq(d.c > maxc),
                    bad.size.eq(bad_size),
                    bad.gemm_pad.eq(is_gemm & ((d.w != 4) | (d.h[:2] != 0) | (Cat(pt, pl, pb, pr) != 0))),
                    bad.conv_pad.eq(~is_gemm & ((pt > 2) | (pl > 2) | (pb > 2) | (pr > 2)
                                                | (d.h + pt + pb < 3) | (d.w + pl + pr < 3))),
                    bad.pitch.eq((d.in_pitch[:_log2(B)] != 0) | (d.out_pitch[:_log2(B)] != 0)
                                 | (d.in_pitch < d.c) | (d.in_pitch == 0)
                                 | (d.out_pitch < Mux(d.requant, d.k, d.k << 2))),
                    bad.addr.eq((d.in_addr[:_log2(B)] != 0) | (d.w_addr[:_log2(B)] != 0)
                                | (d.out_addr[:_log2(B)] != 0)
                                | (d.requant & (d.q_addr[:_log2(B)] != 0))),
                ]
                k_up = d.k[:SIZE_BITS + 1] + (P - 1)
                if P & (P - 1) == 0:
                    m.d.sync += G.eq(k_up >> _log2(P))
                else:
                    m.d.sync += [div_num.eq(k_up), div_cnt.eq(0), div_rem.eq(0), G.eq(0)]
                m.next = "CHECK0B"
            with m.State("CHECK0B"):
                # The first failed check, in the register map's priority order.
                with m.If(bad.mode):
                    m.d.sync += err.eq(Error.BAD_MODE)
                with m.Elif(bad.zero):
                    m.d.sync += err.eq(Error.ZERO_SIZE)
                with m.Elif(bad.channels):
                    m.d.sync += err.eq(Error.TOO_MANY_CHANNELS)
                with m.Elif(bad.size):
                    m.d.sync += err.eq(Error.TOO_WIDE)
                with m.Elif(bad.gemm_pad | bad.conv_pad):
                    m.d.sync += err.eq(Error.BAD_PADDING)
                with m.Elif(bad.pitch):
                    m.d.sync += err.eq(Error.BAD_PITCH)
                with m.Elif(bad.addr):
                    m.d.sync += err.eq(Error.BAD_ADDRESS)
                m.next = "CHECK1"
            with m.State("CHECK1"):
                m.d.sync += [
                    TH.eq(Mux(gemm, H >> 2, (Ho + 1) >> 1)),
                    TW.eq(Mux(gemm, 1, (Wo + 1) >> 1)),
                    mul_step.eq(0), mul_cnt.eq(0), mul_ovf.eq(0),
                ]
                with m.If(err != 0):
                    m.next = "FINISH"
                with m.Else():
                    m.next = "DIV" if div_cycles(P) else "MUL"
            if div_cycles(P):
                with m.State("DIV"):
                    # G = ceil(K / P), restoring division, one quotient bit per cycle.
                    rem = Signal(SIZE_BITS + 2)
                    m.d.comb += rem.eq(Cat(div_num[-1], div_rem))
                    fits = rem >= P
                    m.d.sync += [div_rem.eq(Mux(fits, rem - P, rem)), G.eq(Cat(fits, G)),
                                 div_num.eq(div_num << 1), div_cnt.eq(div_cnt + 1)]
                    with m.If(div_cnt == SIZE_BITS):
                        m.next = "MUL"
            with m.State("MUL"):
                # The descriptor's products, one multiplier bit per cycle (shift and add):
                # no DSP block and no wide single-cycle multiply in the control path.
                products = [  # (multiplier <= MUL_BITS bits, multiplicand, destination)
                    (W, CW, row_beats),
                    (W, d.in_pitch, in_row_bytes),
                    (Wo, d.out_pitch, out_row_bytes),
                    (C, P * U_VECTOR_BYTES, w_group_bytes),
                    (G, H, total_rows),
                    ((W + 3) >> 2, CW, quad_words),
                    (TH, TW, tiles),
                    (H, in_row_bytes, ext_in),
                    (G, w_group_bytes, ext_w),
                    (Ho, out_row_bytes, ext_out),
                    (G, q_group_bytes, ext_q),
                ]
                assert len(products) == MUL_STEPS
                with m.If(mul_cnt == 0):
                    with m.Switch(mul_step):
                        for i, (a, b, _) in enumerate(products):
                            with m.Case(i):
                                m.d.sync += [mul_a.eq(a), mul_b.eq(b)]
                    m.d.sync += [mul_acc.eq(0), mul_cnt.eq(1)]
                with m.Else():
                    acc_next = (mul_acc + Mux(mul_a[0], mul_b, 0))[:len(mul_acc)]
                    m.d.sync += [mul_acc.eq(acc_next), mul_a.eq(mul_a >> 1),
                                 mul_b.eq(mul_b << 1), mul_cnt.eq(mul_cnt + 1)]
                    with m.If(mul_cnt == MUL_BITS):
                        with m.Switch(mul_step):
                            for i, (_, _, dst) in enumerate(products):
                                with m.Case(i):
                                    m.d.sync += dst.eq(acc_next)
                                    if len(dst) < MUL_RESULT_BITS:  # a row too long to address
                                        with m.If(acc_next[len(dst):] != 0):
                                            m.d.sync += mul_ovf.eq(1)
                        m.d.sync += [mul_cnt.eq(0), mul_step.eq(mul_step + 1)]
                        with m.If(mul_step == MUL_STEPS - 1):
                            m.next = "CHECK2"
            with m.State("CHECK2"):
                m.d.sync += [last.C.eq(C - 1), last.TW.eq(TW - 1), last.TH.eq(TH - 1),
                             last.G.eq(G - 1), last.tiles.eq(tiles - 1), last.H.eq(H - 1),
                             last.CW.eq(CW - 1)]
                with m.If(quad_words > HALF):
                    m.d.sync += err.eq(Error.TOO_WIDE)
                    m.next = "FINISH"
                with m.Else():
                    m.d.sync += [ext_in.eq(ext_in + d.in_addr), ext_w.eq(ext_w + d.w_addr),
                                 ext_out.eq(ext_out + d.out_addr), ext_q.eq(ext_q + d.q_addr)]
                    m.next = "CHECK3"
            with m.State("CHECK3"):
                limit = 1 << ADDR_BITS
                with m.If(mul_ovf | (ext_in > limit) | (ext_w > limit) | (ext_out > limit)
                          | (d.requant & (ext_q > limit))):
                    m.d.sync += err.eq(Error.BAD_ADDRESS)
                    m.next = "FINISH"
                with m.Else():
                    m.d.sync += running.eq(1)
                    m.next = "RUN"
            with m.State("RUN"):
                with m.If(self.read_error & ~err.any()):
                    m.d.sync += err.eq(Error.AXI_READ)
                with m.If(self.write_error & ~err.any()):
                    m.d.sync += err.eq(Error.AXI_WRITE)
                with m.If(self.abort & ~err.any()):
                    m.d.sync += err.eq(Error.ABORTED)
                with m.If(stop | self.read_error | self.write_error | self.abort):
                    m.d.sync += [running.eq(0), draining.eq(1)]
                    m.next = "DRAIN"
                with m.Elif(issue_done & (groups_out == G) & quiescent):
                    m.d.sync += running.eq(0)
                    m.next = "FINISH"
            with m.State("DRAIN"):
                with m.If(self.write_error & ~err.any()):
                    m.d.sync += err.eq(Error.AXI_WRITE)
                with m.If(quiescent):
                    m.d.sync += draining.eq(0)
                    m.next = "FINISH"
            with m.State("FINISH"):
                m.d.sync += self.done.eq(1)
                m.next = "IDLE"
        m.d.comb += stop.eq(err.any())
        with m.If(~ctrl.ongoing("IDLE")):  # a layer's cycles run from start to done, check included
            m.d.sync += cyc_cnt.eq(cyc_cnt + 1)

        # Group-level resets happen at start: every loop counter below is cleared
        # while the control FSM is not running.
        starting = Signal()
        m.d.comb += starting.eq(~self.busy)

        # ---------------------------------------------------------------- row loader
        # Requests run ahead of the data (up to ROW_REQUESTS rows in flight); beats
        # come back in request order and are written by the receive counters.
        seq_q = Signal(2 * SIZE_BITS)  # next row to request (row stream order: g * H + r)
        r_q = Signal(SIZE_BITS)
        row_addr = Signal(ADDR_BITS)
        seq_l = Signal(2 * SIZE_BITS)  # row whose beats are arriving
        x_l = Signal(SIZE_BITS)
        cw_l = Signal(ADDR_BITS)
        quad_l = Signal(ADDR_BITS)  # (x // 4) * CW
        rreq, rdat = self.rd_req[0], self.rd_data[0]
        row_req_valid = Signal()
        # Every comparison below reads registers only (the rows requested and not yet
        # loaded are counted); both outcomes of this cycle's request are selected last.
        seq_q1 = Signal(2 * SIZE_BITS)  # seq_q + 1
        in_flight = Signal(range(ROW_REQUESTS + 2))
        req_limit = Signal(signed(2 * SIZE_BITS + 2))  # min_needed + RING_ROWS (two cycles late)
        m.d.comb += [
            rreq.payload.addr.eq(row_addr),
            rreq.payload.len.eq(row_beats - 1),
            rreq.valid.eq(row_req_valid),
            rdat.ready.eq(1),
        ]
        row_done = rdat.valid & rdat.payload.last
        requested = rreq.valid & rreq.ready
        with m.If(starting):
            m.d.sync += [seq_q.eq(0), seq_q1.eq(1), r_q.eq(0), row_addr.eq(d.in_addr),
                         row_req_valid.eq(0), in_flight.eq(0),
                         seq_l.eq(0), x_l.eq(0), cw_l.eq(0), quad_l.eq(0), rows_loaded.eq(0)]
        with m.Else():
            stay = (seq_q < total_rows) & (seq_q < req_limit) & (in_flight < ROW_REQUESTS)
            step = (seq_q1 < total_rows) & (seq_q1 < req_limit) & (in_flight < ROW_REQUESTS - 1)
            can_request = running & ~stop & Mux(requested, step, stay)
            with m.If(~row_req_valid | rreq.ready):
                m.d.sync += row_req_valid.eq(can_request)
            m.d.sync += in_flight.eq(in_flight + requested - row_done)
            with m.If(requested):
                last_row = r_q == last.H
                m.d.sync += [seq_q.eq(seq_q1), seq_q1.eq(seq_q1 + 1), r_q.eq(Mux(last_row, 0, r_q + 1)),
                             row_addr.eq(Mux(last_row, d.in_addr, row_addr + in_row_bytes))]
            with m.If(rdat.valid):
                last_word = cw_l == last.CW
                m.d.sync += cw_l.eq(Mux(last_word, 0, cw_l + 1))
                with m.If(last_word):
                    m.d.sync += x_l.eq(x_l + 1)
                    with m.If(x_l[:2] == 3):
                        m.d.sync += quad_l.eq(quad_l + CW)
                with m.If(rdat.payload.last):
                    m.d.sync += [x_l.eq(0), cw_l.eq(0), quad_l.eq(0),
                                 rows_loaded.eq(seq_l + 1), seq_l.eq(seq_l + 1)]
        row_pending = Signal()
        m.d.comb += row_pending.eq(in_flight != 0)
        m.d.comb += [
            line.write_en.eq(rdat.valid & ~self.rd_data[0].payload.error),
            line.write_bank.eq(Cat(x_l[:2], seq_l[:2])),
            line.write_addr.eq(ring_addr(seq_l[2], quad_l + cw_l)),
            line.write_data.eq(rdat.payload.data),
        ]

        # ---------------------------------------------------------------- weight loader
        g_w = Signal(SIZE_BITS + 1)
        w_addr = Signal(ADDR_BITS)
        q_addr = Signal(ADDR_BITS)
        w_state = Signal(2)  # 0 idle, 1 weights pending, 2 requant pending
        w_req_valid = Signal()
        w_req_addr = Signal(ADDR_BITS)
        w_req_len = Signal(16)
        wreq, wdat = self.rd_req[1], self.rd_data[1]
        vec = Signal(8 * U_VECTOR_BYTES)  # assembles one U vector from beats
        beats_per_vec = max(1, U_VECTOR_BYTES // B)
        vb = Signal(range(beats_per_vec + 1))
        pe_w = Signal(range(max(P, 2)))
        c_w = Signal(c_bits)
        q_beat = Signal(range(q_group_bytes // B + 1))
        qtab = Array(Array(Signal(data.StructLayout({"bias": signed(32), "mult": 32, "shift": 8}),
                                  name=f"q{s}_{p}") for p in range(P)) for s in range(2))
        m.d.comb += [wreq.valid.eq(w_req_valid), wreq.payload.addr.eq(w_req_addr),
                     wreq.payload.len.eq(w_req_len), wdat.ready.eq(1)]
        slot_w = g_w[0]
        with m.If(starting):
            m.d.sync += [g_w.eq(0), w_addr.eq(d.w_addr), q_addr.eq(d.q_addr), w_state.eq(0),
                         w_req_valid.eq(0), vb.eq(0), pe_w.eq(0), c_w.eq(0), q_beat.eq(0),
                         w_loaded.eq(0)]
        with m.Else():
            with m.If(wreq.valid & wreq.ready):
                m.d.sync += w_req_valid.eq(0)
            with m.Switch(w_state):
                with m.Case(0):
                    with m.If(running & ~stop & (g_w < G) & (g_w < groups_out + 2)):
                        m.d.sync += [w_state.eq(1), w_req_valid.eq(1), w_req_addr.eq(w_addr),
                                     w_req_len.eq((w_group_bytes >> _log2(B)) - 1)]
                with m.Case(1):
                    with m.If(wdat.valid):
                        if beats_per_vec > 1:
                            m.d.sync += vec.eq(Cat(vec[8 * B:], wdat.payload.data))
                        else:
                            m.d.sync += vec.eq(wdat.payload.data[:8 * U_VECTOR_BYTES])
                        m.d.sync += vb.eq(Mux(vb == beats_per_vec - 1, 0, vb + 1))
                        with m.If(wdat.payload.last):
                            m.d.sync += w_addr.eq(w_addr + w_group_bytes)
                            with m.If(d.requant):
                                m.d.sync += [w_state.eq(2), w_req_valid.eq(1),
                                             w_req_addr.eq(q_addr),
                                             w_req_len.eq(q_group_bytes // B - 1)]
                            with m.Else():
                                m.d.sync += [w_state.eq(0), g_w.eq(g_w + 1), w_loaded.eq(g_w + 1)]
                with m.Case(2):
                    with m.If(wdat.valid):
                        per_beat = max(1, B // Q_ENTRY_BYTES)
                        for j in range(per_beat):
                            e = wdat.payload.data[128 * j:128 * (j + 1)]
                            idx = q_beat * per_beat + j
                            with m.If(idx < P):
                                m.d.sync += qtab[slot_w][idx].eq(Cat(e[:32], e[32:64], e[64:72]))
                        m.d.sync += q_beat.eq(q_beat + 1)
                        with m.If(wdat.payload.last):
                            m.d.sync += [w_state.eq(0), q_beat.eq(0), g_w.eq(g_w + 1),
                                         w_loaded.eq(g_w + 1), q_addr.eq(q_addr + q_group_bytes)]
        # A complete U vector is written when its last beat arrives.
        vec_now = Signal(8 * U_VECTOR_BYTES)
        if beats_per_vec > 1:
            m.d.comb += vec_now.eq(Cat(vec[8 * B:], wdat.payload.data))
        else:
            m.d.comb += vec_now.eq(wdat.payload.data[:8 * U_VECTOR_BYTES])
        u_bits = cfg.widths["u"].bits
        vec_write = wdat.valid & (w_state == 1) & (vb == beats_per_vec - 1)
        m.d.comb += [
            wbuf.write_en.eq(vec_write),
            wbuf.write_pe.eq(pe_w),
            wbuf.write_addr.eq(slot_addr(slot_w, c_w)),
        ]
        for e in range(cfg.positions):
            m.d.comb += wbuf.write_data[e].eq(vec_now[16 * e:16 * e + u_bits])
        with m.If(vec_write & ~starting):
            last_pe = pe_w == P - 1
            m.d.sync += [pe_w.eq(Mux(last_pe, 0, pe_w + 1)),
                         c_w.eq(Mux(last_pe, Mux(c_w == last.C, 0, c_w + 1), c_w))]
        m.d.comb += loaders_idle.eq(~row_pending & ~row_req_valid & (w_state == 0) & ~w_req_valid)

        # ---------------------------------------------------------------- issue
        # The issue decision reads registers through one comparison each: the last row
        # a band needs (lrn) is kept up to date as the band moves, not recomputed.
        ti, tj, c_i = Signal(SIZE_BITS), Signal(SIZE_BITS), Signal(c_bits)
        gH = Signal(2 * SIZE_BITS)  # g_issue * H
        r0 = Signal(signed(SIZE_BITS + 2))  # first input row of the band (may be < 0)
        x0 = Signal(signed(SIZE_BITS + 2))  # first input column of the tile
        q0 = Signal(signed(ADDR_BITS + 1))  # (x0 >> 2) * CW
        row_signed = signed(2 * SIZE_BITS + 2)
        r0_first = Signal(signed(SIZE_BITS + 2))  # r0 of a group's first band
        lr_first = Signal(signed(SIZE_BITS + 2))  # min(r0_first + 3, H - 1)
        r0_next3 = Signal(signed(SIZE_BITS + 2))  # r0 + stride + 3: the next band's last row
        lrn = Signal(row_signed)  # gH + min(r0 + 3, H - 1): the band's last row (stream order)
        lrn_group = Signal(row_signed)  # lrn of the next group's first band
        last_row = Signal(row_signed)  # gH + H - 1
        gH_ring = Signal(row_signed)  # gH + RING_ROWS
        # The row and weight checks are registered (a cycle stale, which only delays while
        # the counts rise); a band or group change is followed by a one-cycle bubble, so the
        # check after it compares with the new band's rows.
        rows_ok, weights_ok, credit_ok, bubble = Signal(), Signal(), Signal(), Signal()
        m.d.sync += [rows_ok.eq(rows_loaded > lrn), weights_ok.eq(w_loaded > g_issue)]
        # (two cycles late: the limit never falls, so a late one only holds requests back)
        req_base = Signal(row_signed)
        m.d.sync += [req_base.eq(gH_ring + Mux(r0[-1], 0, r0)),
                     req_limit.eq(Mux(issue_done, 1 << (2 * SIZE_BITS), req_base))]
        want_issue = Signal()
        issue_fire = Signal()
        m.d.comb += [
            want_issue.eq(running & ~stop & ~issue_done),
            issue_fire.eq(want_issue & rows_ok & weights_ok & credit_ok & ~bubble),
        ]
        m.d.sync += bubble.eq(0)
        with m.If(want_issue & ~bubble & ~(rows_ok & weights_ok)):
            m.d.sync += stall_cnt.eq(stall_cnt + 1)
        with m.If(starting):  # (held for the whole descriptor check: the chains settle)
            m.d.sync += [g_issue.eq(0), issue_done.eq(0), ti.eq(0), tj.eq(0), c_i.eq(0),
                         gH.eq(0), gH_ring.eq(RING_ROWS),
                         r0_first.eq(Mux(d.mode == Mode.GEMM, 0, -pt.as_signed())),
                         r0.eq(r0_first), r0_next3.eq(r0_first + stride + 3),
                         lr_first.eq(Mux(r0_first + 3 < H, r0_first + 3, H - 1)),
                         lrn.eq(lr_first), lrn_group.eq(lr_first + H), last_row.eq(H - 1),
                         x0.eq(Mux(d.mode == Mode.GEMM, 0, -pl.as_signed())),
                         q0.eq(Mux((d.mode != Mode.GEMM) & (pl != 0), -(d.in_pitch >> _log2(B)), 0)),
                         items_issued.eq(0), tiles_issued.eq(0)]
        with m.Elif(issue_fire):
            m.d.sync += items_issued.eq(items_issued + 1)
            last_c = c_i == last.C
            last_tj = tj == last.TW
            last_ti = ti == last.TH
            last_g = g_issue == last.G
            m.d.sync += c_i.eq(Mux(last_c, 0, c_i + 1))
            with m.If(last_c):
                m.d.sync += tiles_issued.eq(tiles_issued + 1)
                with m.If(last_tj):
                    m.d.sync += [bubble.eq(1), tj.eq(0), x0.eq(Mux(gemm, 0, -pl.as_signed())),
                                 q0.eq(Mux(~gemm & (pl != 0), -CW.as_signed(), 0))]
                    with m.If(last_ti):
                        m.d.sync += [ti.eq(0), r0.eq(r0_first), r0_next3.eq(r0_first + stride + 3),
                                     lrn.eq(lrn_group)]
                        with m.If(last_g):
                            m.d.sync += issue_done.eq(1)
                        with m.Else():
                            m.d.sync += [g_issue.eq(g_issue + 1), gH.eq(gH + H),
                                         gH_ring.eq(gH_ring + H), lrn_group.eq(lrn_group + H),
                                         last_row.eq(last_row + H)]
                    with m.Else():
                        m.d.sync += [ti.eq(ti + 1), r0.eq(r0 + stride),
                                     r0_next3.eq(r0_next3 + stride),
                                     lrn.eq(Mux(r0_next3 < H, lrn + stride, last_row))]
                with m.Else():
                    m.d.sync += [tj.eq(tj + 1), x0.eq(x0 + stride)]
                    with m.If(x0[1]):  # (stride 2) the next tile starts in the next 4-pixel quad
                        m.d.sync += q0.eq(q0 + CW)

        # Issue credits: the gather pipeline never stalls; a tile is issued only when the
        # tile FIFO after it will have room, so no ready runs back from the datapath to issue.
        d_bits = cfg.widths["d"].bits
        m.submodules.tile_fifo = tile_fifo = SyncFIFOBuffered(width=16 * d_bits, depth=TILE_FIFO_DEPTH)
        credits = Signal(range(TILE_FIFO_DEPTH + 1))  # tiles issued and not yet taken from the FIFO
        tile_taken = tile_fifo.r_en & tile_fifo.r_rdy
        m.d.comb += credit_ok.eq(credits < TILE_FIFO_DEPTH)
        with m.If(starting):
            m.d.sync += credits.eq(0)
        with m.Else():
            m.d.sync += credits.eq(credits + issue_fire - tile_taken)

        # Stage 0: the tile's ring position, quad word and validity, from the issue registers.
        meta = data.StructLayout({"s": 2, "q": 2, "hb": 1, "rowv": 4, "colv": 4, "byte": 6,
                                  "word": signed(ADDR_BITS + 1)})
        meta0, meta1 = Signal(meta), Signal(meta)
        valid0, valid1, valid2 = Signal(), Signal(), Signal()
        seq_low = (gH[:3] + r0[:3])[:3]  # (gH + r0) mod 8: the band's first ring row
        m.d.sync += [
            valid0.eq(issue_fire & ~starting),
            meta0.s.eq(seq_low[:2]), meta0.hb.eq(seq_low[2]), meta0.q.eq(x0[:2]),
            meta0.rowv.eq(Cat(*[((r0 + a) >= 0) & ((r0 + a) < H) for a in range(4)])),
            meta0.colv.eq(Cat(*[((x0 + b) >= 0) & ((x0 + b) < W) for b in range(4)])),
            meta0.byte.eq(c_i[:_log2(B)]),
            meta0.word.eq(q0 + (c_i >> _log2(B))),
        ]
        # Bank addresses (stage 0 -> line buffer read ports; data in stage 1).
        for bank in range(BANKS):
            rb, cb = bank >> 2, bank & 3
            # (a row / column phase of 3 never wraps: skip the constant comparison)
            half = meta0.hb ^ (rb < meta0.s) if rb < 3 else meta0.hb
            col_wrap = Mux(cb < meta0.q, CW, 0) if cb < 3 else 0
            m.d.comb += line.read_addr[bank].eq(ring_addr(half, meta0.word + col_wrap)[:lb_bits])
        m.d.comb += line.read_en.eq(1)

        # Stage 1 (memory output), stage 1b (the bank words in flip-flops: a block RAM's
        # output has a long clock-to-out), stage 1c (the channel's byte of each bank) and
        # stage 2 (gathered tile d) -> tile FIFO.
        d2 = Signal(tile_layout(d_bits, 16))
        meta1b, meta1c = Signal(meta), Signal(meta)
        words = Signal(data.ArrayLayout(8 * B, BANKS))
        valid1b, valid1c = Signal(), Signal()
        bytes_ = [Signal(8, name=f"bank_byte{b}") for b in range(BANKS)]
        m.d.sync += [valid1.eq(valid0 & ~starting), meta1.eq(meta0),
                     valid1b.eq(valid1 & ~starting), meta1b.eq(meta1), words.eq(line.read_data),
                     valid1c.eq(valid1b & ~starting), meta1c.eq(meta1b),
                     valid2.eq(valid1c & ~starting)]
        # Gather: byte select per bank, rotate into tile positions, zero point, padding.
        m.d.sync += [bytes_[b].eq(words[b].word_select(meta1b.byte, 8)) for b in range(BANKS)]
        barr = Array(bytes_)
        zp = Signal(signed(9))
        m.d.comb += zp.eq(Mux(d.x_signed, d.x_zp.as_signed(), d.x_zp))
        for a in range(4):
            for b in range(4):
                src = barr[Cat((meta1c.q + b)[:2], (meta1c.s + a)[:2])]
                x = Mux(d.x_signed, src.as_signed(), src)
                ok = meta1c.rowv[a] & meta1c.colv[b]
                m.d.sync += d2[4 * a + b].eq(Mux(ok, x - zp, 0))
        m.d.comb += [
            tile_fifo.w_en.eq(valid2), tile_fifo.w_data.eq(d2),
            itx.i.valid.eq(tile_fifo.r_rdy), itx.i.payload.eq(tile_fifo.r_data),
            tile_fifo.r_en.eq(itx.i.ready), itx.bypass.eq(gemm),
        ]

        # ---------------------------------------------------------------- join with U
        c_j = Signal(c_bits)
        t_j = Signal(2 * SIZE_BITS)
        g_j = Signal(SIZE_BITS)
        primed = Signal()
        join_fire = Signal()
        # The PEs and output transforms never stall (their ready inputs are tied high): a
        # tile's last channel joins only while fewer than two blocks are past the join and
        # not yet serialized, so the hold and shift buffers always take the block that
        # arrives. No ready runs from the serializer back through the PEs.
        blocks_held = Signal(2)
        block_done = Signal()  # the last pixel of the shift buffer's block leaves this cycle
        last_cj = c_j == last.C
        room = ~last_cj | (blocks_held != 2)
        m.d.comb += join_fire.eq(itx.o.valid & primed & room)
        m.d.comb += itx.o.ready.eq(primed & room)
        with m.If(starting):
            m.d.sync += blocks_held.eq(0)
        with m.Else():
            m.d.sync += blocks_held.eq(blocks_held + (join_fire & last_cj) - block_done)
        last_tile_j = t_j == last.tiles
        next_c = Mux(last_cj, 0, c_j + 1)
        end_group = last_cj & last_tile_j
        m.d.comb += [
            wbuf.read_en.eq(join_fire | (~primed & itx.o.valid)),
            wbuf.read_addr.eq(slot_addr(g_j[0], Mux(primed, next_c, 0))),
        ]
        with m.If(starting):
            m.d.sync += [c_j.eq(0), t_j.eq(0), g_j.eq(0), primed.eq(0), items_joined.eq(0)]
        with m.Elif(join_fire):
            m.d.sync += [items_joined.eq(items_joined + 1), mac_cnt.eq(mac_cnt + 1), c_j.eq(next_c)]
            with m.If(last_cj):
                m.d.sync += t_j.eq(Mux(last_tile_j, 0, t_j + 1))
            with m.If(end_group):
                m.d.sync += [g_j.eq(g_j + 1), primed.eq(0)]
        with m.Elif(~primed & itx.o.valid):
            m.d.sync += primed.eq(1)
        for p in range(P):
            m.d.comb += [
                pes[p].i.valid.eq(join_fire),
                pes[p].i.payload.v.eq(itx.o.payload),
                pes[p].i.payload.u.eq(wbuf.read_data[p]),
                pes[p].i.payload.first.eq(c_j == 0),
                pes[p].i.payload.last.eq(last_cj),
            ]

        # ---------------------------------------------------------------- serializer
        acc32 = data.ArrayLayout(signed(32), 16)
        # The PEs fill the hold buffer while the shift buffer is serialized; a full hold buffer
        # moves to the shift buffer as the last pixel leaves it. Whether a block may enter
        # depends on registers only (no ready runs from the writer to the PEs), and pixels
        # leave from element 0 of a shift register (no wide read multiplexer).
        hold = Signal(data.ArrayLayout(acc32, P))
        shift = Signal(data.ArrayLayout(acc32, P))
        hold_full = Signal()
        full = Signal()  # the shift buffer holds a block
        pix = Signal(5)
        npix = Mux(gemm, 16, 4)
        advance = Signal()  # the current pixel is sent (or skipped) this cycle
        last_pix = Signal()
        take = Signal()  # hold -> shift this cycle
        m.d.comb += [last_pix.eq(pix == npix - 1), block_done.eq(advance & last_pix),
                     take.eq(hold_full & (~full | block_done))]
        for p in range(P):
            m.d.comb += [
                otxs[p].i.valid.eq(pes[0].o.valid & ~gemm),
                otxs[p].i.payload.eq(pes[p].o.payload),
                pes[p].o.ready.eq(1),
                otxs[p].o.ready.eq(1),
            ]
        # A block arrives while the hold buffer is empty or moves on: with at most two blocks
        # past the join, a full hold buffer that stays means a third.
        load_block = Mux(gemm, pes[0].o.valid, otxs[0].o.valid)
        # Output address state.
        g_o = Signal(SIZE_BITS)
        ti_o, tj_o = Signal(SIZE_BITS), Signal(SIZE_BITS)
        t_o = Signal(2 * SIZE_BITS)
        # Pixel addresses are kept, not computed: each is one addition from a register.
        g_base = Signal(ADDR_BITS)  # out_addr + g * P * (1 or 4 bytes): the group's first pixel
        band_base = Signal(ADDR_BITS)  # g_base + ti * (out_row_bytes << edge)
        blk_addr = Signal(ADDR_BITS)  # band_base + tj * 2 * out_pitch: the block's first pixel
        row_start = Signal(ADDR_BITS)  # blk_addr + a * out_row_bytes
        pix_addr = Signal(ADDR_BITS)  # row_start + b * out_pitch: the current pixel
        k_left = Signal(SIZE_BITS + 1)  # K - g * P: output channels from this group on
        a_pix = Signal(2)
        b_pix = Signal(2)
        m.d.comb += [a_pix.eq(Mux(gemm, pix[2:4], pix[1])), b_pix.eq(Mux(gemm, pix[:2], pix[0]))]
        # Output rows and columns left from this block on (Ho - ti * edge, Wo - tj * edge), and
        # the same capped at 4 (what a pixel's validity needs), kept as the blocks move.
        rows_rem, cols_rem = Signal(signed(SIZE_BITS + 2)), Signal(signed(SIZE_BITS + 2))
        rows_here, cols_here, rows_first, cols_first = (Signal(3) for _ in range(4))
        step_o = Mux(gemm, 4, 2)

        def cap4(v):
            v = v.as_value() if hasattr(v, "as_value") else v
            low = Mux(v < 0, 0, v[:3]) if v.shape().signed else v[:3]
            return Mux(v >= 4, 4, low)

        pix_valid = (a_pix < rows_here) & (b_pix < cols_here)

        with m.If(starting):
            m.d.sync += [rows_rem.eq(Ho), cols_rem.eq(Wo), rows_first.eq(cap4(Ho)),
                         cols_first.eq(cap4(Wo)), rows_here.eq(rows_first), cols_here.eq(cols_first)]
            m.d.sync += [hold_full.eq(0), full.eq(0), pix.eq(0), g_o.eq(0),
                         ti_o.eq(0), tj_o.eq(0), t_o.eq(0),
                         g_base.eq(d.out_addr), band_base.eq(d.out_addr), blk_addr.eq(d.out_addr),
                         row_start.eq(d.out_addr), pix_addr.eq(d.out_addr), k_left.eq(K),
                         blocks_out.eq(0),
                         groups_out.eq(0), pixels_in.eq(0)]
        # Emit one pixel per cycle (skipping cropped ones).
        wi = writer.i
        lanes_left = Signal(range(P + 1))
        m.d.comb += lanes_left.eq(Mux(k_left >= P, P, k_left))
        emit = full & pix_valid
        m.d.comb += [
            wi.valid.eq(emit),
            wi.payload.addr.eq(pix_addr),
            wi.payload.nlanes.eq(lanes_left),
        ]
        slot_o = g_o[0]
        for p in range(P):
            q = qtab[slot_o][p]
            m.d.comb += [
                wi.payload.values[p].eq(shift[p][0]),
                wi.payload.bias[p].eq(q.bias),
                wi.payload.multiplier[p].eq(q.mult),
                wi.payload.shift[p].eq(q.shift),
            ]
        m.d.comb += [
            wi.payload.zero_point.eq(d.out_zp),
            wi.payload.out_signed.eq(d.out_signed),
            wi.payload.relu.eq(d.relu),
            wi.payload.enable.eq(d.requant),
        ]
        m.d.comb += advance.eq(full & (~pix_valid | wi.ready))
        with m.If(~starting & wi.valid & wi.ready):
            m.d.sync += pixels_in.eq(pixels_in + 1)
        with m.If(~starting & advance):
            m.d.sync += pix.eq(Mux(last_pix, 0, pix + 1))
            with m.If(~last_pix & (b_pix == Mux(gemm, 3, 1))):  # the block's next row
                m.d.sync += [row_start.eq(row_start + out_row_bytes),
                             pix_addr.eq(row_start + out_row_bytes)]
            with m.Elif(~last_pix):
                m.d.sync += pix_addr.eq(pix_addr + d.out_pitch)
            with m.If(last_pix):
                m.d.sync += [full.eq(0), blocks_out.eq(blocks_out + 1)]
                last_t = t_o == last.tiles
                m.d.sync += t_o.eq(Mux(last_t, 0, t_o + 1))
                with m.If(tj_o == last.TW):
                    m.d.sync += [tj_o.eq(0), cols_rem.eq(Wo), cols_here.eq(cols_first)]
                    with m.If(ti_o == last.TH):
                        m.d.sync += [rows_rem.eq(Ho), rows_here.eq(rows_first)]
                        nxt = g_base + Mux(d.requant, P, 4 * P)  # P lanes of 1 or 4 bytes
                        m.d.sync += [ti_o.eq(0), g_o.eq(g_o + 1), groups_out.eq(groups_out + 1),
                                     k_left.eq(k_left - P), g_base.eq(nxt), band_base.eq(nxt),
                                     blk_addr.eq(nxt), row_start.eq(nxt), pix_addr.eq(nxt)]
                    with m.Else():
                        nxt = band_base + Mux(gemm, out_row_bytes << 2, out_row_bytes << 1)
                        m.d.sync += [rows_rem.eq(rows_rem - step_o), rows_here.eq(cap4(rows_rem - step_o))]
                        m.d.sync += [ti_o.eq(ti_o + 1), band_base.eq(nxt), blk_addr.eq(nxt),
                                     row_start.eq(nxt), pix_addr.eq(nxt)]
                with m.Else():
                    nxt = blk_addr + (d.out_pitch << 1)
                    m.d.sync += [cols_rem.eq(cols_rem - step_o), cols_here.eq(cap4(cols_rem - step_o))]
                    m.d.sync += [tj_o.eq(tj_o + 1), blk_addr.eq(nxt), row_start.eq(nxt),
                                 pix_addr.eq(nxt)]

        with m.If(~starting):
            m.d.sync += hold_full.eq(load_block | (hold_full & ~take))
            with m.If(take):
                m.d.sync += full.eq(1)
        # The buffers' contents move without `starting` in their enables (the flags say what
        # they hold): fewer logic levels before enables that fan out to every element.
        with m.If(load_block):
            for p in range(P):
                src_gemm, src_conv = pes[p].o.payload, otxs[p].o.payload
                for e in range(16):
                    m.d.sync += hold[p][e].eq(Mux(gemm, src_gemm[e], src_conv[e] if e < 4 else 0))
        with m.If(take):
            m.d.sync += shift.eq(hold)
        with m.Elif(advance & ~last_pix):
            m.d.sync += [shift[p][e].eq(shift[p][e + 1]) for p in range(P) for e in range(15)]

        # ---------------------------------------------------------------- writer -> AXI
        # Small FIFOs decouple the writer's request and beat streams, so a pixel's
        # request can be taken before the master accepts the previous pixel's beat.
        m.submodules.aw_fifo = aw_fifo = SyncFIFOBuffered(
            width=len(self.wr_req.payload.as_value()), depth=WRITE_FIFO_DEPTH)
        m.submodules.w_fifo = w_fifo = SyncFIFOBuffered(
            width=len(self.wr_data.payload.as_value()), depth=WRITE_FIFO_DEPTH)
        aw_word = Signal(request_layout())
        w_word = Signal(write_beat_layout(B))
        m.d.comb += [
            aw_word.addr.eq(writer.aw.payload.addr),
            aw_word.len.eq(writer.aw.payload.beats - 1),
            aw_fifo.w_data.eq(aw_word),
            aw_fifo.w_en.eq(writer.aw.valid),
            writer.aw.ready.eq(aw_fifo.w_rdy),
            self.wr_req.valid.eq(aw_fifo.r_rdy),
            self.wr_req.payload.eq(aw_fifo.r_data),
            aw_fifo.r_en.eq(self.wr_req.ready),
            w_word.data.eq(writer.w.payload.data),
            w_word.strb.eq(writer.w.payload.strb),
            w_fifo.w_data.eq(w_word),
            w_fifo.w_en.eq(writer.w.valid),
            writer.w.ready.eq(w_fifo.w_rdy),
            self.wr_data.valid.eq(w_fifo.r_rdy),
            self.wr_data.payload.eq(w_fifo.r_data),
            w_fifo.r_en.eq(self.wr_data.ready),
        ]
        with m.If(starting):
            m.d.sync += requests_out.eq(0)
        with m.Elif(self.wr_req.valid & self.wr_req.ready):
            m.d.sync += requests_out.eq(requests_out + 1)
        return m
