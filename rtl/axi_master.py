"""The engine's AXI4 memory master: N read clients and one write client on one AXI4 port.

Clients speak in *requests* (a bus-aligned byte address and a length in beats,
up to 2**16 beats); the master cuts them into INCR bursts of full-width beats
that hold at most ``max_burst`` beats and never cross a 4 KiB boundary, keeps
up to ``max_outstanding`` bursts in flight per direction, and returns read
beats to the client that asked for them, in order.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out
from winnow.hls.config import EngineConfig
from winnow.hls.errors import WinnowParameterError
from winnow.hls.regmap import ADDR_BITS

from .axi_signatures import AXI4Signature, AXIBurst

__all__ = ["AXIMaster", "request_layout", "read_beat_layout", "write_beat_layout"]

PAGE_BYTES = 4096  # AXI: an INCR burst must not cross a 4 KiB boundary
MAX_REQUEST_BEATS = 1 << 16
AXCACHE = 0b0011  # Normal Non-cacheable Bufferable: the usual choice for a DMA master


def request_layout(addr_width: int = ADDR_BITS) -> data.StructLayout:
    """One read or write request.

    ``addr``: byte address of the first beat; its low ``log2(bus_bytes)`` bits
    are ignored (requests are bus-aligned). ``len``: beats − 1 (AXI's
    convention), so one request moves 1 to 65536 beats.
    """
    return data.StructLayout({"addr": addr_width, "len": 16})


def read_beat_layout(bus_bytes: int) -> data.StructLayout:
    """One read beat to a client: ``data`` (byte ``k`` in bits ``8k..8k+7``),
    ``last`` (last beat of its request), ``error`` (RRESP was SLVERR or DECERR;
    ``data`` is then whatever the slave sent)."""
    return data.StructLayout({"data": 8 * bus_bytes, "last": 1, "error": 1})


def write_beat_layout(bus_bytes: int) -> data.StructLayout:
    """One write beat from the client: ``data`` and byte-enable ``strb`` (bit ``k`` enables byte ``k``)."""
    return data.StructLayout({"data": 8 * bus_bytes, "strb": bus_bytes})


def _burst_layout(addr_width: int) -> data.StructLayout:
    return data.StructLayout({"addr": addr_width, "len": 8, "final": 1})


def _check_int(owner: str, name: str, value, lo: int, hi: int, extra: str = "") -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise WinnowParameterError(
            f"{owner} {name} must be an integer in [{lo}, {hi}]{extra}, not {value!r}")


class BurstSplitter(wiring.Component):
    """Cuts one request at a time into AXI bursts.

    Ports: ``req`` (``In``, :func:`request_layout`), ``burst`` (``Out``:
    ``addr``, ``len`` = beats − 1, ``final`` = last burst of the request),
    ``busy`` (a request is being cut).

    A burst holds ``min(beats left, max_burst, beats to the next 4 KiB
    boundary)`` beats. ``req.ready`` is ``~busy``, or the final burst leaving:
    the next request is taken in the cycle the previous one's final burst
    leaves (``req.ready`` then depends on ``burst.ready``). ``burst.valid`` is a
    register; the payload is combinational from registers (no path from
    ``burst.ready`` to ``burst.valid``).
    """

    def __init__(self, *, bus_bytes: int, max_burst: int, addr_width: int = ADDR_BITS):
        self.bus_bytes, self.max_burst, self.addr_width = bus_bytes, max_burst, addr_width
        super().__init__({
            "req": In(stream.Signature(request_layout(addr_width))),
            "burst": Out(stream.Signature(_burst_layout(addr_width))),
            "busy": Out(1),
        })
        self.addr = Signal(addr_width)
        self.left = Signal(range(MAX_REQUEST_BEATS + 1))
        self.to_page_m1 = Signal(range(PAGE_BYTES // bus_bytes))

    def elaborate(self, platform):
        m = Module()
        lane_bits = (self.bus_bytes - 1).bit_length()
        page_beats = PAGE_BYTES // self.bus_bytes
        addr, left = self.addr, self.left

        # Beats to the next 4 KiB boundary, minus one, kept in a register: it is the
        # complement of the address's beat-in-page bits and wraps to page_beats - 1 when a
        # burst ends on the boundary, so no path runs from the address adder to the cut.
        to_page_m1 = self.to_page_m1
        limit = Signal(range(max(page_beats, self.max_burst) + 1))
        beats = Signal(range(max(page_beats, self.max_burst) + 1))
        m.d.comb += [
            limit.eq(Mux(to_page_m1 < self.max_burst - 1, to_page_m1 + 1, self.max_burst)),
            beats.eq(Mux(left < limit, left, limit)),
            self.burst.valid.eq(self.busy),
            self.burst.payload.addr.eq(addr),
            self.burst.payload.len.eq(beats - 1),
            self.burst.payload.final.eq(left <= limit),
            # A new request is taken in the cycle the previous one's final burst leaves,
            # so single-burst requests flow at one per cycle.
            self.req.ready.eq(~self.busy | (self.burst.ready & self.burst.payload.final)),
        ]
        with m.If(self.burst.valid & self.burst.ready):
            m.d.sync += [addr.eq(addr + (beats << lane_bits)), left.eq(left - beats),
                         to_page_m1.eq(to_page_m1 - beats)]
            with m.If(self.burst.payload.final):
                m.d.sync += self.busy.eq(0)
        with m.If(self.req.valid & self.req.ready):  # after the burst update: a new request wins
            m.d.sync += [
                self.busy.eq(1),
                addr.eq(Cat(Const(0, lane_bits), self.req.payload.addr[lane_bits:])),
                left.eq(self.req.payload.len + 1),
                to_page_m1.eq(~self.req.payload.addr[lane_bits:12]),
            ]
        return m


class AXIMaster(wiring.Component):
    """AXI4 master with ``read_ports`` read clients and one write client.

    Parameters
    ----------
    bus_bytes: AXI data width in bytes, a power of two in [4, 64] (default
        ``EngineConfig().bus_bytes``; :meth:`from_config` takes it from a config).
    read_ports: read clients, 1..16; client ``i`` uses ARID ``i``.
    max_burst: beats per burst, 1..256 (AXI4 INCR limit).
    max_outstanding: bursts in flight per direction (AR/AW issued or waiting
        to issue, last R beat / B response not yet received), 1..64.
    id_width: ARID/AWID/RID/BID width, enough for ``read_ports - 1``, at most 16.

    Ports
    -----
    ``axi``: ``Out(AXI4Signature(addr_width=32, data_width=8*bus_bytes, id_width))``.
        AxSIZE = log2(bus_bytes), AxBURST = INCR, AxCACHE = 0b0011, AxLOCK =
        AxPROT = 0, AWID = 0. Master-driven valids and payloads of AR, AW and W
        are registers, loaded only when the channel is empty or handshaking, so
        they are stable until ready and no ready reaches a valid
        combinationally. BREADY is always 1.
    ``rd_req[i]``: ``In(stream.Signature(request_layout()))`` read requests.
    ``rd_data[i]``: ``Out(stream.Signature(read_beat_layout(bus_bytes)))``: the
        beats of client ``i``'s requests in request order; ``last`` on the final
        beat of each request. Combinational from the R channel:
        ``rd_data[i].valid = RVALID & RID == i`` and ``RREADY = rd_data[RID].ready``
        (a client that stalls stalls the R channel for everyone; beats with an
        RID no client owns are dropped).
    ``wr_req``: ``In(stream.Signature(request_layout()))`` write requests.
    ``wr_data``: ``In(stream.Signature(write_beat_layout(bus_bytes)))``: the beats
        of the write requests, in order. A beat is taken once the burst it
        belongs to is known (its AW is issued or queued), independently of
        AWREADY; AW never waits for W. The client may present data before or
        after its request, but must not hold back ``wr_req`` until ``wr_data``
        is taken.
    ``read_idle`` / ``write_idle``: no request being cut and no burst in
        flight in that direction (``write_idle``: every B response received;
        wait on it before reporting a layer done).
    ``read_error`` / ``write_error``: sticky, set by an RRESP / BRESP of SLVERR
        or DECERR; cleared by ``error_clear`` (a new error in the same cycle wins).

    Throughput: one R beat per cycle while the slave delivers and the client
    takes them; an AR (or AW) can issue every cycle, so with ``max_outstanding``
    ≥ 2 the next burst's address overlaps the current burst's data. W moves one
    beat per cycle.
    """

    def __init__(self, *, bus_bytes: int = EngineConfig().bus_bytes, read_ports: int = 3,
                 max_burst: int = 64, max_outstanding: int = 4, id_width: int = 4):
        name = type(self).__name__
        try:
            if not isinstance(bus_bytes, int) or isinstance(bus_bytes, bool) \
                    or bus_bytes not in (4, 8, 16, 32, 64):
                raise WinnowParameterError(
                    f"{name} bus_bytes must be a power of two in [4, 64], not {bus_bytes!r}")
            _check_int(name, "read_ports", read_ports, 1, 16)
            _check_int(name, "max_burst", max_burst, 1, 256, " (AXI4 INCR bursts)")
            _check_int(name, "max_outstanding", max_outstanding, 1, 64)
            need = max(1, (read_ports - 1).bit_length())
            _check_int(name, "id_width", id_width, need, 16,
                       f" (ARID must hold client indices up to {read_ports - 1})")
        except WinnowParameterError:
            self._MustUse__silence = True  # never elaborated: no "unused" warning
            raise
        self.bus_bytes, self.read_ports, self.max_burst = bus_bytes, read_ports, max_burst
        self.max_outstanding, self.id_width = max_outstanding, id_width
        #: One request splitter per read client, and the write client's (public for formal checks).
        self.rd_splitters = [self._splitter() for _ in range(read_ports)]
        self.wr_splitter = self._splitter()
        req = stream.Signature(request_layout())
        super().__init__({
            "axi": Out(AXI4Signature(addr_width=ADDR_BITS, data_width=8 * bus_bytes,
                                     id_width=id_width)),
            "rd_req": In(req).array(read_ports),
            "rd_data": Out(stream.Signature(read_beat_layout(bus_bytes))).array(read_ports),
            "wr_req": In(req),
            "wr_data": In(stream.Signature(write_beat_layout(bus_bytes))),
            "read_idle": Out(1), "write_idle": Out(1),
            "read_error": Out(1), "write_error": Out(1), "error_clear": In(1),
        })

    @classmethod
    def from_config(cls, config: EngineConfig, **kwargs) -> AXIMaster:
        """The master for ``config.bus_bytes``; other parameters as in the constructor."""
        return cls(bus_bytes=config.bus_bytes, **kwargs)

    def _splitter(self) -> BurstSplitter:
        return BurstSplitter(bus_bytes=self.bus_bytes, max_burst=self.max_burst)

    def _address_defaults(self, m: Module, prefix: str) -> None:
        axi = self.axi
        m.d.comb += [
            getattr(axi, prefix + "size").eq((self.bus_bytes - 1).bit_length()),
            getattr(axi, prefix + "burst").eq(AXIBurst.INCR),
            getattr(axi, prefix + "cache").eq(AXCACHE),
        ]

    def elaborate(self, platform):
        m = Module()
        self._elaborate_read(m)
        self._elaborate_write(m)
        return m

    def _round_robin(self, m: Module, valids: list) -> tuple[Signal, Signal]:
        """``grant``: the first valid client after ``prev``, cyclically; the caller updates ``prev``."""
        n = len(valids)
        prev = Signal(range(n), init=n - 1)
        grant = Signal(range(n))
        with m.Switch(prev):
            for p in range(n):
                with m.Case(p) if p < n - 1 else m.Default():  # Default: no incomplete case
                    for k in range(n, 0, -1):  # later statements win: nearest after prev last
                        with m.If(valids[(p + k) % n]):
                            m.d.comb += grant.eq((p + k) % n)
        return grant, prev

    def _elaborate_read(self, m: Module) -> None:
        axi, n = self.axi, self.read_ports
        splitters = self.rd_splitters
        for i, sp in enumerate(splitters):
            m.submodules[f"rd_split{i}"] = sp
            wiring.connect(m, wiring.flipped(self.rd_req[i]), sp.req)
        # Per client, one bit per burst in flight: is it the final burst of its request?
        finals = []
        for i in range(n):
            fifo = SyncFIFO(width=1, depth=self.max_outstanding)
            m.submodules[f"rd_final{i}"] = fifo
            finals.append(fifo)

        inflight = Signal(range(self.max_outstanding + 1))
        bursts = [sp.burst for sp in splitters]
        grant, prev = self._round_robin(m, [b.valid for b in bursts])
        load = Signal()
        m.d.comb += load.eq((~axi.arvalid | axi.arready) & (inflight < self.max_outstanding)
                            & Cat(b.valid for b in bursts).any())
        self._address_defaults(m, "ar")
        for i, b in enumerate(bursts):
            m.d.comb += b.ready.eq(load & (grant == i))
            m.d.comb += [finals[i].w_en.eq(b.valid & b.ready), finals[i].w_data.eq(b.payload.final)]
        with m.If(load):
            chosen = Signal.like(bursts[0].payload)
            with m.Switch(grant):
                for i, b in enumerate(bursts):
                    with m.Case(i) if i < n - 1 else m.Default():
                        m.d.comb += chosen.eq(b.payload)
            m.d.sync += [axi.arvalid.eq(1), axi.araddr.eq(chosen.addr), axi.arlen.eq(chosen.len),
                         axi.arid.eq(grant), prev.eq(grant)]
        with m.Elif(axi.arready):
            m.d.sync += axi.arvalid.eq(0)

        r_fire = axi.rvalid & axi.rready
        with m.Switch(axi.rid):
            for i in range(n):
                with m.Case(i):
                    m.d.comb += axi.rready.eq(self.rd_data[i].ready)
            with m.Default():
                m.d.comb += axi.rready.eq(1)  # RID owned by no client: drop the beat
        for i in range(n):
            port = self.rd_data[i]
            m.d.comb += [
                port.valid.eq(axi.rvalid & (axi.rid == i)),
                port.payload.data.eq(axi.rdata),
                port.payload.error.eq(axi.rresp[1]),
                port.payload.last.eq(axi.rlast & finals[i].r_data),
                finals[i].r_en.eq(port.valid & port.ready & axi.rlast),
            ]
        m.d.sync += inflight.eq(inflight + load - (r_fire & axi.rlast & (axi.rid < n) & (inflight != 0)))
        m.d.comb += self.read_idle.eq((inflight == 0) & ~Cat(sp.busy for sp in splitters).any())
        self._sticky(m, self.read_error, r_fire & axi.rresp[1])

    def _elaborate_write(self, m: Module) -> None:
        axi = self.axi
        m.submodules.wr_split = sp = self.wr_splitter
        wiring.connect(m, wiring.flipped(self.wr_req), sp.req)
        # Lengths of the bursts whose W beats are not all sent yet, in AW order.
        m.submodules.wr_lens = lens = SyncFIFO(width=8, depth=self.max_outstanding)
        inflight = Signal(range(self.max_outstanding + 1))  # AW issued or queued, B not received

        self._address_defaults(m, "aw")
        load = Signal()
        m.d.comb += [
            load.eq((~axi.awvalid | axi.awready) & sp.burst.valid & lens.w_rdy
                    & (inflight < self.max_outstanding)),
            sp.burst.ready.eq(load),
            lens.w_en.eq(load), lens.w_data.eq(sp.burst.payload.len),
        ]
        with m.If(load):
            m.d.sync += [axi.awvalid.eq(1), axi.awaddr.eq(sp.burst.payload.addr),
                         axi.awlen.eq(sp.burst.payload.len)]
        with m.Elif(axi.awready):
            m.d.sync += axi.awvalid.eq(0)

        beat = Signal(8)  # index of the next W beat within the current burst
        w_free = ~axi.wvalid | axi.wready
        m.d.comb += self.wr_data.ready.eq(w_free & lens.r_rdy)
        with m.If(self.wr_data.valid & self.wr_data.ready):
            last = beat == lens.r_data
            m.d.sync += [axi.wvalid.eq(1), axi.wdata.eq(self.wr_data.payload.data),
                         axi.wstrb.eq(self.wr_data.payload.strb), axi.wlast.eq(last),
                         beat.eq(Mux(last, 0, beat + 1))]
            m.d.comb += lens.r_en.eq(last)
        with m.Elif(axi.wready):
            m.d.sync += axi.wvalid.eq(0)

        b_fire = axi.bvalid & axi.bready
        m.d.comb += axi.bready.eq(1)
        m.d.sync += inflight.eq(inflight + load - (b_fire & (inflight != 0)))
        m.d.comb += self.write_idle.eq((inflight == 0) & ~sp.busy)
        self._sticky(m, self.write_error, b_fire & axi.bresp[1])

    def _sticky(self, m: Module, flag: Signal, set_: object) -> None:
        with m.If(set_):
            m.d.sync += flag.eq(1)
        with m.Elif(self.error_clear):
            m.d.sync += flag.eq(0)
