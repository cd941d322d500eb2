"""AXI4-Lite and AXI4 port signatures, shared by the register file (slave) and the memory master.

Both signatures are written from the **master's** side (the master drives
``*valid`` of AW/W/AR and ``*ready`` of B/R): a master component has
``Out(sig)``, a slave ``In(sig)``. Signal names are the AMBA names in lower
case; a member ``s_axil`` of a component therefore becomes the Verilog ports
``s_axil__awaddr``, ``s_axil__awvalid``, ... (Amaranth joins names with a
double underscore), which cocotbext-axi binds with
``AxiLiteBus.from_prefix(dut, "s_axil_")`` (it adds one more ``_``).

:meth:`AXI4LiteSignature.channels` and :meth:`AXI4Signature.channels` list the
five channels with their valid, ready and payload names, so protocol checks
(formal harnesses, monitors) can be written once for both.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AXIResp", "AXIBurst", "Channel", "AXI4LiteSignature", "AXI4Signature"]


class AXIResp(enum.IntEnum):
    """``BRESP`` / ``RRESP`` codes (2 bits)."""

    OKAY = 0
    EXOKAY = 1
    SLVERR = 2
    DECERR = 3


class AXIBurst(enum.IntEnum):
    """``AxBURST`` codes (2 bits)."""

    FIXED = 0
    INCR = 1
    WRAP = 2


@dataclass(frozen=True)
class Channel:
    """One AXI channel: member names of its handshake and payload.

    ``from_master``: True for AW, W, AR (the master drives valid and payload),
    False for B and R (the slave does).
    """

    name: str
    valid: str
    ready: str
    payload: tuple[str, ...]
    from_master: bool


def _check_width(owner: str, what: str, value, allowed) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value not in allowed:
        raise TypeError(f"{owner} {what} must be one of {sorted(allowed)}, not {value!r}")


def _channels(members: dict) -> tuple[Channel, ...]:
    out = []
    for name, from_master in (("aw", True), ("w", True), ("b", False), ("ar", True), ("r", False)):
        # "w..." never matches "aw...", nor "r..." "ar...": a plain prefix test suffices.
        payload = tuple(m for m in members
                        if m.startswith(name) and m not in (name + "valid", name + "ready"))
        out.append(Channel(name, name + "valid", name + "ready", payload, from_master))
    return tuple(out)


class AXI4LiteSignature(wiring.Signature):
    """AXI4-Lite, master's view: ``addr_width``-bit byte addresses, 32- or 64-bit data.

    Members: ``awaddr awprot awvalid awready  wdata wstrb wvalid wready
    bresp bvalid bready  araddr arprot arvalid arready  rdata rresp rvalid rready``.
    """

    def __init__(self, *, addr_width: int, data_width: int = 32):
        _check_width("AXI4-Lite", "addr_width", addr_width, range(1, 65))
        _check_width("AXI4-Lite", "data_width", data_width, (32, 64))
        self.addr_width, self.data_width = addr_width, data_width
        super().__init__(self._members(addr_width, data_width))

    @staticmethod
    def _members(aw: int, dw: int) -> dict:
        return {
            "awaddr": Out(aw), "awprot": Out(3), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(dw), "wstrb": Out(dw // 8), "wvalid": Out(1), "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(aw), "arprot": Out(3), "arvalid": Out(1), "arready": In(1),
            "rdata": In(dw), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
        }

    def channels(self) -> tuple[Channel, ...]:
        return _channels(self._members(self.addr_width, self.data_width))

    def __eq__(self, other):
        return (type(other) is type(self) and other.addr_width == self.addr_width
                and other.data_width == self.data_width)

    def __hash__(self):
        return hash((type(self), self.addr_width, self.data_width))

    def __repr__(self):
        return f"AXI4LiteSignature(addr_width={self.addr_width}, data_width={self.data_width})"


class AXI4Signature(wiring.Signature):
    """AXI4 (full, bursts), master's view, without the optional QOS/REGION/USER signals.

    Members per channel: ``awid awaddr awlen awsize awburst awlock awcache
    awprot awvalid awready``; ``wdata wstrb wlast wvalid wready``; ``bid bresp
    bvalid bready``; AR as AW; ``rid rdata rresp rlast rvalid rready``.
    ``id_width`` may be 0 (no ID signals).
    """

    def __init__(self, *, addr_width: int, data_width: int, id_width: int = 0):
        _check_width("AXI4", "addr_width", addr_width, range(1, 65))
        _check_width("AXI4", "data_width", data_width, (8, 16, 32, 64, 128, 256, 512, 1024))
        _check_width("AXI4", "id_width", id_width, range(0, 33))
        self.addr_width, self.data_width, self.id_width = addr_width, data_width, id_width
        super().__init__(self._members(addr_width, data_width, id_width))

    @staticmethod
    def _members(aw: int, dw: int, iw: int) -> dict:
        def ids(prefix, flow):
            return {prefix + "id": flow(iw)} if iw else {}

        def addr(p):
            return {**ids(p, Out), p + "addr": Out(aw), p + "len": Out(8), p + "size": Out(3),
                    p + "burst": Out(2), p + "lock": Out(1), p + "cache": Out(4), p + "prot": Out(3),
                    p + "valid": Out(1), p + "ready": In(1)}

        return {
            **addr("aw"),
            "wdata": Out(dw), "wstrb": Out(dw // 8), "wlast": Out(1), "wvalid": Out(1), "wready": In(1),
            **ids("b", In), "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            **addr("ar"),
            **ids("r", In), "rdata": In(dw), "rresp": In(2), "rlast": In(1), "rvalid": In(1),
            "rready": Out(1),
        }

    def channels(self) -> tuple[Channel, ...]:
        return _channels(self._members(self.addr_width, self.data_width, self.id_width))

    def __eq__(self, other):
        return (type(other) is type(self) and other.addr_width == self.addr_width
                and other.data_width == self.data_width and other.id_width == self.id_width)

    def __hash__(self):
        return hash((type(self), self.addr_width, self.data_width, self.id_width))

    def __repr__(self):
        return (f"AXI4Signature(addr_width={self.addr_width}, data_width={self.data_width}, "
                f"id_width={self.id_width})")
