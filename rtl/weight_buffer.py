"""The weight buffer: transformed weights ``U`` of two output-channel groups.

One memory per PE, ``2 * max_channels`` words of ``n*n`` elements of
``widths["u"].bits``: slot ``s`` (0 or 1) holds group ``g`` with ``g % 2 == s``
at words ``s * max_channels + c``, so one group loads while the other is
used (double buffering). All PEs read the same word (same channel, same
slot) in the same cycle; writes fill one PE's word at a time.
Reads are synchronous (data one cycle after the address, held while
``read_en`` is low).
"""

from __future__ import annotations

from amaranth.hdl import Module, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ._util import check_config, tile_layout


class WeightBuffer(wiring.Component):
    def __init__(self, config=None):
        self.config = check_config(self, config)
        self.depth = 2 * self.config.max_channels
        self.addr_bits = (self.depth - 1).bit_length()
        u = tile_layout(self.config.widths["u"].bits, self.config.positions)
        pes = self.config.pes
        super().__init__({
            "write_en": In(1),
            "write_pe": In(range(max(pes, 2))),  # (a 1-PE build keeps a 1-bit port)
            "write_addr": In(self.addr_bits),
            "write_data": In(u),
            "read_en": In(1),
            "read_addr": In(self.addr_bits),
            "read_data": Out(data.ArrayLayout(u, pes)),
        })

    def elaborate(self, platform):
        m = Module()
        u = tile_layout(self.config.widths["u"].bits, self.config.positions)
        for p in range(self.config.pes):
            mem = Memory(shape=unsigned(u.size), depth=self.depth, init=[])
            m.submodules[f"pe{p}"] = mem
            wp = mem.write_port()
            rp = mem.read_port()
            m.d.comb += [
                wp.addr.eq(self.write_addr),
                wp.data.eq(self.write_data.as_value()),
                wp.en.eq(self.write_en & (self.write_pe == p)),
                rp.addr.eq(self.read_addr),
                rp.en.eq(self.read_en),
                self.read_data[p].as_value().eq(rp.data),
            ]
        return m
