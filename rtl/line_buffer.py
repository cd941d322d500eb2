"""The input line buffer: a ring of 8 input rows in 16 banks, read as 4x4 tiles.

Geometry: banks are indexed ``(row_phase, col_phase) = (seq % 4, x % 4)`` where
``seq`` is the row's sequence number in the layer's row stream and ``x`` its
pixel column, so any 4 consecutive rows and 4 consecutive columns (one
Winograd input tile, or 16 rows of a GEMM operand) lie in 16 different banks
and are read in one cycle. Each bank word is one bus beat (``bus_bytes``
channels of one pixel). Within a bank, word
``half * HALF + (x // 4) * CW + cw`` holds word ``cw`` of pixel ``x`` of a row
with ``half = (seq // 4) % 2``, ``CW = pitch / bus_bytes`` words per pixel and
``HALF = depth / 2``: two groups of four rows, eight rows in all.

Ports: one write port (a whole beat into one bank per cycle) and 16 read
ports sharing one enable, with synchronous reads (data one cycle after the
address; held while ``read_en`` is low).
"""

from __future__ import annotations

from amaranth.hdl import Module, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from winnow.hls.line_geometry import BANKS, RING_ROWS, bank_depth

from ._util import check_config

__all__ = ["BANKS", "RING_ROWS", "LineBuffer"]


class LineBuffer(wiring.Component):
    """16 banks of ``depth`` words of ``bus_bytes * 8`` bits (see module docstring)."""

    def __init__(self, config=None):
        self.config = check_config(self, config)
        self.depth = bank_depth(self.config)
        self.addr_bits = max(1, (self.depth - 1).bit_length())
        width = 8 * self.config.bus_bytes
        super().__init__({
            "write_en": In(1),
            "write_bank": In(4),
            "write_addr": In(self.addr_bits),
            "write_data": In(width),
            "read_en": In(1),
            "read_addr": In(data.ArrayLayout(unsigned(self.addr_bits), BANKS)),
            "read_data": Out(data.ArrayLayout(unsigned(width), BANKS)),
        })

    def elaborate(self, platform):
        m = Module()
        width = 8 * self.config.bus_bytes
        for b in range(BANKS):
            mem = Memory(shape=unsigned(width), depth=self.depth, init=[])
            m.submodules[f"bank{b}"] = mem
            wp = mem.write_port()
            rp = mem.read_port()
            m.d.comb += [
                wp.addr.eq(self.write_addr),
                wp.data.eq(self.write_data),
                wp.en.eq(self.write_en & (self.write_bank == b)),
                rp.addr.eq(self.read_addr[b]),
                rp.en.eq(self.read_en),
                self.read_data[b].eq(rp.data),
            ]
        return m
