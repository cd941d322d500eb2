"""The engine top: AXI4-Lite register file + core + AXI4 memory master.

Ports (Verilog names after Amaranth's flattening): ``clk``, ``rst`` (active
high, synchronous), ``s_axil__*`` (AXI4-Lite slave, 32-bit data, 12-bit
address) and ``m_axi__*`` (AXI4 master, ``8 * bus_bytes``-bit data, 32-bit
address). cocotbext-axi binds them with ``AxiLiteBus.from_prefix(dut,
"s_axil_")`` and ``AxiBus.from_prefix(dut, "m_axi_")``.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from winnow.hls.regmap import ADDR_BITS

from ._util import check_config
from .axi_master import AXIMaster
from .axi_signatures import AXI4LiteSignature, AXI4Signature
from .core import EngineCore
from .regfile import RegisterFile

REG_ADDR_BITS = 12
READ_CLIENTS = 2  # input rows, weights (+ requantization table)


class Engine(wiring.Component):
    """A Winograd F(2x2,3x3) engine built from an :class:`~winnow.hls.config.EngineConfig`."""

    def __init__(self, config=None, *, max_outstanding: int = 16):
        self.config = cfg = check_config(self, config)
        self.max_outstanding = max_outstanding
        super().__init__({
            "s_axil": In(AXI4LiteSignature(addr_width=REG_ADDR_BITS)),
            "m_axi": Out(AXI4Signature(addr_width=ADDR_BITS, data_width=8 * cfg.bus_bytes,
                                       id_width=4)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        m.submodules.regs = regs = RegisterFile.from_config(cfg, addr_width=REG_ADDR_BITS)
        m.submodules.core = core = EngineCore(cfg)
        m.submodules.mem = mem = AXIMaster(bus_bytes=cfg.bus_bytes, read_ports=READ_CLIENTS,
                                           max_burst=cfg.max_burst,
                                           max_outstanding=self.max_outstanding, id_width=4)
        wiring.connect(m, wiring.flipped(self.s_axil), regs.s_axil)
        wiring.connect(m, mem.axi, wiring.flipped(self.m_axi))
        for i in range(READ_CLIENTS):
            wiring.connect(m, core.rd_req[i], mem.rd_req[i])
            wiring.connect(m, mem.rd_data[i], core.rd_data[i])
        wiring.connect(m, core.wr_req, mem.wr_req)
        wiring.connect(m, core.wr_data, mem.wr_data)
        d = core.desc
        m.d.comb += [
            d.mode.eq(regs.desc_mode), d.in_addr.eq(regs.desc_in_addr),
            d.w_addr.eq(regs.desc_w_addr), d.q_addr.eq(regs.desc_q_addr),
            d.out_addr.eq(regs.desc_out_addr), d.c.eq(regs.desc_c), d.k.eq(regs.desc_k),
            d.h.eq(regs.desc_h), d.w.eq(regs.desc_w),
            d.pad_top.eq(regs.desc_pads.top), d.pad_left.eq(regs.desc_pads.left),
            d.pad_bottom.eq(regs.desc_pads.bottom), d.pad_right.eq(regs.desc_pads.right),
            d.in_pitch.eq(regs.desc_in_pitch), d.out_pitch.eq(regs.desc_out_pitch),
            d.x_zp.eq(regs.desc_zp.x_zp), d.out_zp.eq(regs.desc_zp.out_zp),
            d.x_signed.eq(regs.desc_flags.x_signed), d.requant.eq(regs.desc_flags.requant),
            d.relu.eq(regs.desc_flags.relu), d.out_signed.eq(regs.desc_flags.out_signed),
            core.start.eq(regs.start), core.abort.eq(regs.abort),
            regs.busy.eq(core.busy), regs.done.eq(core.done), regs.error.eq(core.error),
            regs.cycles.eq(core.cycles), regs.busy_cycles.eq(core.busy_cycles),
            regs.stall_cycles.eq(core.stall_cycles), regs.mac_cycles.eq(core.mac_cycles),
            core.write_idle.eq(mem.write_idle), core.read_error.eq(mem.read_error),
            core.write_error.eq(mem.write_error), mem.error_clear.eq(core.error_clear),
        ]
        return m
