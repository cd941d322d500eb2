"""The engine's AXI4-Lite register file, generated from :data:`winnow.hls.regmap.REGISTERS`.

No offset, width or field position is written here: every decoder case,
storage width, port and constant comes from the register map, so adding a
register there changes this block (or makes its constructor refuse a register
it does not know how to source).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from winnow.hls.errors import WinnowParameterError
from winnow.hls.regmap import REGISTERS, Access, Register

from .axi_signatures import AXI4LiteSignature, AXIResp

__all__ = ["RegisterFile", "counter_port", "desc_port", "CAPS_PARAMS"]

DATA_BITS = 32
CAPS_PARAMS = ("pes", "m", "bus_bytes", "acc_bits", "max_channels", "line_kib")


def desc_port(reg: Register) -> str:
    """Port name of a read/write register: its name in lower case (``DESC_PADS`` -> ``desc_pads``)."""
    return reg.name.lower()


def counter_port(prefix: str) -> str:
    """Port name of the 64-bit counter behind ``<prefix>_LO``/``_HI``.

    ``CYCLES`` -> ``cycles``; any other prefix ``X`` -> ``x_cycles`` (``BUSY`` -> ``busy_cycles``).
    """
    return "cycles" if prefix == "CYCLES" else f"{prefix.lower()}_cycles"


def _stored_shape(reg: Register):
    """32 bits for a register without fields, else a layout placing each field at its ``lsb``."""
    if not reg.fields:
        return DATA_BITS
    size = max(f.lsb + f.width for f in reg.fields)
    return data.FlexibleLayout(size, {f.name.lower(): data.Field(f.width, f.lsb) for f in reg.fields})


def _stored_init(reg: Register):
    """``reg.reset`` in the form :func:`_stored_shape` takes (a field mapping when it has fields)."""
    if not reg.fields:
        return reg.reset
    return {f.name.lower(): (reg.reset >> f.lsb) & ((1 << f.width) - 1) for f in reg.fields}


def _pack(reg: Register, values: dict) -> Cat:
    """The 32-bit word with ``values[field name in lower case]`` at each field's position."""
    parts, pos = [], 0
    for f in sorted(reg.fields, key=lambda f: f.lsb):
        parts += [Const(0, f.lsb - pos), values[f.name.lower()][:f.width]]
        pos = f.lsb + f.width
    return Cat(*parts, Const(0, DATA_BITS - pos))


def _counters() -> dict[str, tuple[Register, Register]]:
    """``{prefix: (lo, hi)}`` for every ``<prefix>_LO`` register with its ``_HI`` 4 bytes above."""
    by_name = {r.name: r for r in REGISTERS}
    out = {}
    for r in REGISTERS:
        if r.name.endswith("_LO"):
            hi = by_name.get(r.name[:-3] + "_HI")
            if hi is None or hi.offset != r.offset + 4 or r.access is not Access.RO:
                raise WinnowParameterError(f"register {r.name} has no read-only _HI word at +4")
            out[r.name[:-3]] = (r, hi)
    return out


class RegisterFile(wiring.Component):
    """AXI4-Lite slave holding the layer descriptor, control and status of the engine.

    Parameters
    ----------
    pes, m, bus_bytes, acc_bits, max_channels, line_kib:
        Build parameters reported in ``CAPS0``/``CAPS1``; each must be a positive
        integer that fits its field (``ValueError`` :class:`WinnowParameterError`
        otherwise). :meth:`from_config` derives them from an ``EngineConfig``.
    addr_width:
        Width of ``awaddr``/``araddr`` (default 12); at least enough for the
        highest register offset.

    Ports
    -----
    ``s_axil``: ``In(AXI4LiteSignature(addr_width=addr_width))``, 32-bit data.
        Verilog ports ``s_axil__awaddr`` ... ``s_axil__rready``; in cocotbext-axi,
        ``AxiLiteBus.from_prefix(dut, "s_axil_")``.
    One ``Out`` per ``RW`` register, named :func:`desc_port` (``desc_mode``,
        ``desc_in_addr``, ...): 32 bits for a register without fields, else a
        ``FlexibleLayout`` view with one lower-case member per field at its bit
        position (``desc_pads.top``, ``desc_flags.relu``). Registered; they change
        the cycle after the write is performed.
    One ``Out(1)`` per ``W1S`` field (``start``, ``abort``): a one-cycle pulse
        the cycle after a write with that bit (and its ``WSTRB`` lane) set.
        ``start`` is suppressed while ``busy`` is high (CTRL.START is "ignored
        while busy"), so the engine sees ``start`` only when idle.
    One ``In`` per field of a read-only register that is not a build parameter
        (``busy``: 1, ``done``: 1, ``error``: 8), read through ``STATUS``.
    One ``In(64)`` per ``_LO``/``_HI`` counter pair, named :func:`counter_port`
        (``cycles``, ``busy_cycles``, ``stall_cycles``, ``mac_cycles``).

    Behaviour
    ---------
    * AW and W are accepted independently, in either order or in the same
      cycle, each into a one-entry holding register (``awready``/``wready`` are
      low while it is full). The write is performed once both are held and the
      B channel is free; ``BVALID`` rises the cycle after and is held with
      ``BRESP`` until ``BREADY``. While a B waits, one further AW and W may be
      accepted into the holding registers (two writes in flight at most); it
      is performed in the cycle its predecessor's B is taken. 2 cycles per
      write at best (AW/W handshake, then B).
    * ``ARREADY`` is ``~RVALID``: one read in flight; ``RVALID`` rises the cycle
      after the AR handshake and is held with ``RDATA``/``RRESP`` until
      ``RREADY``. 2 cycles per read at best. No output depends
      combinationally on an input.
    * Addresses are decoded on bits ``[addr_width-1:2]`` (the byte offset within
      a word is ignored; ``WSTRB`` selects bytes). ``AxPROT`` is ignored.
    * ``RW`` registers honour ``WSTRB`` byte by byte; bits outside the fields
      of a fielded register are not stored and read 0. Reset values come from
      the register map.
    * ``W1S`` registers read 0. ``RO`` registers ignore writes (response OKAY).
    * Unmapped addresses: reads return 0 with ``SLVERR``; writes change nothing
      and respond ``SLVERR``. (A driver that mistypes an offset learns so.)
    * Reading ``X_LO`` returns the live low word and latches the high word of
      the same sample; reading ``X_HI`` returns the latched word (0 before the
      first ``X_LO`` read). Read ``_LO`` then ``_HI`` for a consistent 64-bit value.
    """

    def __init__(self, *, pes, m, bus_bytes, acc_bits, max_channels, line_kib, addr_width=12):
        self._MustUse__silence = True  # until validated: a refused build is not "unused"
        self.caps = self._check_caps(dict(pes=pes, m=m, bus_bytes=bus_bytes, acc_bits=acc_bits,
                                          max_channels=max_channels, line_kib=line_kib))
        need = max(r.offset for r in REGISTERS).bit_length()
        if not isinstance(addr_width, int) or isinstance(addr_width, bool) or not need <= addr_width <= 64:
            raise WinnowParameterError(
                f"RegisterFile addr_width must be an integer in [{need}, 64] (the highest register "
                f"offset needs {need} bits), not {addr_width!r}")
        self.addr_width = addr_width
        self.counters = _counters()
        members = {"s_axil": In(AXI4LiteSignature(addr_width=addr_width, data_width=DATA_BITS))}
        for reg in REGISTERS:
            if reg.access is Access.RW:
                members[desc_port(reg)] = Out(_stored_shape(reg), init=_stored_init(reg))
            elif reg.access is Access.W1S:
                members.update({f.name.lower(): Out(1) for f in reg.fields})
            elif reg.fields and not self._is_caps(reg):
                members.update({f.name.lower(): In(f.width) for f in reg.fields})
        members.update({counter_port(p): In(2 * DATA_BITS) for p in self.counters})
        super().__init__(members)
        self._MustUse__silence = False

    @classmethod
    def from_config(cls, config, *, addr_width=12) -> RegisterFile:
        """The register file of an :class:`~winnow.hls.config.EngineConfig` build."""
        return cls(pes=config.pes, m=config.m, bus_bytes=config.bus_bytes,
                   acc_bits=config.widths["acc"].bits, max_channels=config.max_channels,
                   line_kib=config.line_buffer_bytes // 1024, addr_width=addr_width)

    @staticmethod
    def _is_caps(reg: Register) -> bool:
        return bool(reg.fields) and all(f.name.lower() in CAPS_PARAMS for f in reg.fields)

    @classmethod
    def _check_caps(cls, caps: dict) -> dict:
        fields = {f.name.lower(): f for r in REGISTERS if cls._is_caps(r) for f in r.fields}
        if set(fields) != set(CAPS_PARAMS):
            raise WinnowParameterError(f"register map capability fields {sorted(fields)} do not match "
                                       f"the RegisterFile parameters {list(CAPS_PARAMS)}")
        for name, value in caps.items():
            hi = (1 << fields[name].width) - 1
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= hi:
                raise WinnowParameterError(
                    f"RegisterFile {name} must be an integer in [1, {hi}] (its {fields[name].width}-bit "
                    f"CAPS field), not {value!r}")
        return caps

    def _read_value(self, reg: Register):
        """The 32-bit value an AR to ``reg`` returns (``_HI`` counters are handled by the caller)."""
        if reg.access is Access.W1S:
            return Const(0, DATA_BITS)
        if reg.access is Access.RW:
            return Value.cast(getattr(self, desc_port(reg)))
        if self._is_caps(reg):
            return _pack(reg, {k: Const(v, 32) for k, v in self.caps.items()})
        if reg.fields:
            return _pack(reg, {f.name.lower(): getattr(self, f.name.lower()) for f in reg.fields})
        return Const(reg.reset, DATA_BITS)

    def elaborate(self, platform):
        m = Module()
        bus = self.s_axil
        word = slice(2, self.addr_width)

        # Write path: independent one-entry holding registers for AW and W.
        aw_full, w_full = Signal(), Signal()
        aw_word = Signal(self.addr_width - 2)  # the byte offset within a word is not kept
        w_data, w_strb = Signal(DATA_BITS), Signal(DATA_BITS // 8)
        m.d.comb += [bus.awready.eq(~aw_full), bus.wready.eq(~w_full)]
        with m.If(bus.awvalid & bus.awready):
            m.d.sync += [aw_full.eq(1), aw_word.eq(bus.awaddr[word])]
        with m.If(bus.wvalid & bus.wready):
            m.d.sync += [w_full.eq(1), w_data.eq(bus.wdata), w_strb.eq(bus.wstrb)]

        perform = Signal()  # both halves held and the B channel free: write now, respond next cycle
        m.d.comb += perform.eq(aw_full & w_full & (~bus.bvalid | bus.bready))
        with m.If(bus.bvalid & bus.bready):
            m.d.sync += bus.bvalid.eq(0)
        lanes = Cat(w_strb[i // 8] for i in range(DATA_BITS))  # WSTRB widened to one bit per data bit
        with m.If(perform):
            m.d.sync += [aw_full.eq(0), w_full.eq(0), bus.bvalid.eq(1), bus.bresp.eq(AXIResp.OKAY)]
            with m.Switch(aw_word):
                for reg in REGISTERS:
                    if reg.access is Access.RW:
                        with m.Case(reg.offset >> 2):
                            port = Value.cast(getattr(self, desc_port(reg)))
                            merged = (port.as_unsigned() & ~lanes) | (w_data & lanes)
                            m.d.sync += port.eq(merged[:len(port)])
                with m.Case(*(r.offset >> 2 for r in REGISTERS if r.access is not Access.RW)):
                    pass  # RO: ignored; W1S: the pulses below
                with m.Default():
                    m.d.sync += bus.bresp.eq(AXIResp.SLVERR)
        for reg in REGISTERS:
            if reg.access is Access.W1S:
                hit = perform & (aw_word == reg.offset >> 2)
                for f in reg.fields:
                    fire = hit & w_data[f.lsb] & w_strb[f.lsb // 8]
                    if f.name == "START":
                        fire &= ~self.busy  # "ignored while busy"
                    m.d.sync += getattr(self, f.name.lower()).eq(fire)

        # Read path: one read in flight; _LO reads latch the matching _HI word.
        hi_latch = {p: Signal(DATA_BITS, name=f"{p.lower()}_hi_latch") for p in self.counters}
        m.d.comb += bus.arready.eq(~bus.rvalid)
        with m.If(bus.rvalid & bus.rready):
            m.d.sync += bus.rvalid.eq(0)
        with m.If(bus.arvalid & bus.arready):
            m.d.sync += [bus.rvalid.eq(1), bus.rresp.eq(AXIResp.OKAY)]
            with m.Switch(bus.araddr[word]):
                for reg in REGISTERS:
                    with m.Case(reg.offset >> 2):
                        prefix, half = reg.name.rpartition("_")[::2]
                        if prefix in self.counters and half == "LO":
                            value = getattr(self, counter_port(prefix))
                            m.d.sync += [bus.rdata.eq(value[:DATA_BITS]),
                                         hi_latch[prefix].eq(value[DATA_BITS:])]
                        elif prefix in self.counters and half == "HI":
                            m.d.sync += bus.rdata.eq(hi_latch[prefix])
                        else:
                            m.d.sync += bus.rdata.eq(self._read_value(reg))
                with m.Default():
                    m.d.sync += [bus.rdata.eq(0), bus.rresp.eq(AXIResp.SLVERR)]
        return m
