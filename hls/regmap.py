"""The engine's register map, declared once.

The RTL register file, the host driver, the C header and the documentation
are all generated from :data:`REGISTERS`. Registers are 32 bits wide on an
AXI4-Lite slave with byte addresses; 64-bit counters are two registers
(``_LO`` at the lower address; reading ``_LO`` latches ``_HI``).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field

ENGINE_ID = 0x574E4E57  # "WNNW"
VERSION = 0x0001_0000  # major.minor in the upper/lower halves
ADDR_BITS = 32  # memory address width of the AXI4 master


class Access(enum.Enum):
    RO = "ro"
    RW = "rw"
    W1S = "w1s"  # write 1 to trigger; reads 0


class Mode(enum.IntEnum):
    """``DESC_MODE``: what the engine computes."""

    CONV = 0  # 3x3 stride-1 conv through F(2x2, 3x3)
    GEMM = 1  # A[M, Kd] @ B[Kd, N] on the same multipliers


class Error(enum.IntEnum):
    """``STATUS.ERROR``: why the last start was refused or aborted (0: none)."""

    NONE = 0
    ZERO_SIZE = 1  # C, K, H or W is 0
    TOO_MANY_CHANNELS = 2  # C > max_channels
    TOO_WIDE = 3  # a band of the input does not fit the line buffer
    BAD_ADDRESS = 4  # misaligned, or the layer's extent leaves the address space
    BAD_MODE = 5  # DESC_MODE not a Mode
    BAD_PADDING = 6  # output would be empty, or a pad >= 3
    AXI_READ = 7  # SLVERR/DECERR on a read
    AXI_WRITE = 8  # SLVERR/DECERR on a write
    BAD_PITCH = 9  # a pitch not a multiple of the bus width, or smaller than a pixel
    ABORTED = 10  # stopped by CTRL.ABORT


@dataclass(frozen=True)
class Field:
    name: str
    lsb: int
    width: int
    doc: str

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lsb


@dataclass(frozen=True)
class Register:
    name: str
    offset: int
    access: Access
    doc: str
    fields: tuple[Field, ...] = field(default=())
    reset: int = 0


def _f(name, lsb, width, doc):
    return Field(name, lsb, width, doc)


REGISTERS: tuple[Register, ...] = (
    Register("ID", 0x000, Access.RO, "Engine identifier 0x574E4E57 ('WNNW')", reset=ENGINE_ID),
    Register("VERSION", 0x004, Access.RO, "Register-map version (major << 16 | minor)",
             reset=VERSION),
    Register("CAPS0", 0x008, Access.RO, "Build parameters", (
        _f("PES", 0, 8, "Winograd PEs (16 multipliers each)"),
        _f("M", 8, 4, "Output tile edge m of F(m x m, 3x3)"),
        _f("BUS_BYTES", 12, 8, "AXI4 data width in bytes"),
        _f("ACC_BITS", 20, 8, "Accumulator width"),
    )),
    Register("CAPS1", 0x00C, Access.RO, "Buffer sizes", (
        _f("MAX_CHANNELS", 0, 16, "Input channels per pass"),
        _f("LINE_KIB", 16, 16, "Line buffer in KiB"),
    )),
    Register("CTRL", 0x010, Access.W1S, "Control", (
        _f("START", 0, 1, "Validate the descriptor and start (ignored while busy)"),
        _f("ABORT", 1, 1, "Stop at the next safe point; outstanding AXI transfers complete"),
    )),
    Register("STATUS", 0x014, Access.RO, "Status", (
        _f("BUSY", 0, 1, "A layer is running"),
        _f("DONE", 1, 1, "The last started layer finished (cleared by START)"),
        _f("ERROR", 8, 8, "Error code of the last start (see Error)"),
    )),
    Register("DESC_MODE", 0x020, Access.RW, "Mode (see Mode)"),
    Register("DESC_IN_ADDR", 0x024, Access.RW, "Input activations (NHWC int8, pixel pitch IN_PITCH)"),
    Register("DESC_W_ADDR", 0x028, Access.RW, "Transformed weights (int16, [group][c][pe][16])"),
    Register("DESC_Q_ADDR", 0x02C, Access.RW, "Requantization table ([k] x {bias, mult, shift, 0})"),
    Register("DESC_OUT_ADDR", 0x030, Access.RW, "Output (NHWC, int32 or int8, pitch OUT_PITCH)"),
    Register("DESC_C", 0x034, Access.RW, "Input channels (GEMM: inner dimension Kd)"),
    Register("DESC_K", 0x038, Access.RW, "Output channels (GEMM: columns N)"),
    Register("DESC_H", 0x03C, Access.RW, "Input height (GEMM: ceil(M / 4))"),
    Register("DESC_W", 0x040, Access.RW, "Input width (GEMM: 4)"),
    Register("DESC_PADS", 0x044, Access.RW, "Padding in pixels", (
        _f("TOP", 0, 4, ""), _f("LEFT", 4, 4, ""), _f("BOTTOM", 8, 4, ""), _f("RIGHT", 12, 4, ""),
    )),
    Register("DESC_IN_PITCH", 0x048, Access.RW, "Bytes per input pixel (multiple of BUS_BYTES)"),
    Register("DESC_OUT_PITCH", 0x04C, Access.RW, "Bytes per output pixel (multiple of BUS_BYTES)"),
    Register("DESC_ZP", 0x050, Access.RW, "Zero points", (
        _f("X_ZP", 0, 8, "Input zero point (same signedness as the input)"),
        _f("OUT_ZP", 8, 8, "Output zero point (requantized outputs)"),
    )),
    Register("DESC_FLAGS", 0x054, Access.RW, "Flags", (
        _f("X_SIGNED", 0, 1, "Input is int8 (else uint8)"),
        _f("REQUANT", 1, 1, "Requantize outputs to 8 bits (else raw int32)"),
        _f("RELU", 2, 1, "Clamp requantized outputs below at OUT_ZP"),
        _f("OUT_SIGNED", 3, 1, "Requantized output is int8 (else uint8)"),
    )),
    Register("CYCLES_LO", 0x080, Access.RO, "Cycles since the last START (low word)"),
    Register("CYCLES_HI", 0x084, Access.RO, "Cycles (high word, latched by reading _LO)"),
    Register("BUSY_LO", 0x088, Access.RO, "Cycles with BUSY set"),
    Register("BUSY_HI", 0x08C, Access.RO, ""),
    Register("STALL_LO", 0x090, Access.RO, "Busy cycles in which the datapath waited for memory"),
    Register("STALL_HI", 0x094, Access.RO, ""),
    Register("MAC_LO", 0x098, Access.RO, "Cycles in which the multipliers were fed"),
    Register("MAC_HI", 0x09C, Access.RO, ""),
)

BY_NAME = {r.name: r for r in REGISTERS}


def to_json() -> str:
    return json.dumps({
        "id": ENGINE_ID, "version": VERSION, "addr_bits": ADDR_BITS,
        "modes": {m.name: m.value for m in Mode}, "errors": {e.name: e.value for e in Error},
        "registers": [{"name": r.name, "offset": r.offset, "access": r.access.value,
                       "reset": r.reset, "doc": r.doc,
                       "fields": [{"name": f.name, "lsb": f.lsb, "width": f.width, "doc": f.doc}
                                  for f in r.fields]} for r in REGISTERS],
    }, indent=2) + "\n"


def to_c_header(guard: str = "WINNOW_REGS_H") -> str:
    lines = [f"/* Winnow engine register map v{VERSION >> 16}.{VERSION & 0xFFFF}. Generated; "
             "do not edit. */", f"#ifndef {guard}", f"#define {guard}", "",
             f"#define WINNOW_ID 0x{ENGINE_ID:08X}u", f"#define WINNOW_VERSION 0x{VERSION:08X}u", ""]
    for r in REGISTERS:
        lines.append(f"#define WINNOW_{r.name} 0x{r.offset:03X}u /* {r.doc} */")
        for f in r.fields:
            lines.append(f"#define WINNOW_{r.name}_{f.name}_SHIFT {f.lsb}u")
            lines.append(f"#define WINNOW_{r.name}_{f.name}_MASK 0x{f.mask:08X}u")
    lines.append("")
    for enum_ in (Mode, Error):
        for e in enum_:
            lines.append(f"#define WINNOW_{enum_.__name__.upper()}_{e.name} {e.value}u")
    lines += ["", f"#endif /* {guard} */", ""]
    return "\n".join(lines)


def to_markdown() -> str:
    out = [f"# Winnow engine registers (v{VERSION >> 16}.{VERSION & 0xFFFF})", "",
           "| offset | name | access | reset | description |", "|---|---|---|---|---|"]
    for r in REGISTERS:
        out.append(f"| 0x{r.offset:03X} | {r.name} | {r.access.value} | 0x{r.reset:X} | {r.doc} |")
        for f in r.fields:
            bits = f"{f.lsb + f.width - 1}:{f.lsb}" if f.width > 1 else f"{f.lsb}"
            out.append(f"| | `[{bits}]` {f.name} | | | {f.doc} |")
    out += ["", "| mode | value |", "|---|---|"] + [f"| {m.name} | {m.value} |" for m in Mode]
    out += ["", "| error | value |", "|---|---|"] + [f"| {e.name} | {e.value} |" for e in Error]
    return "\n".join(out) + "\n"


#: Descriptor keys of single-field registers, and the register holding each multi-field key.
_DESC_REGISTERS = {
    "mode": "DESC_MODE", "in_addr": "DESC_IN_ADDR", "w_addr": "DESC_W_ADDR",
    "q_addr": "DESC_Q_ADDR", "out_addr": "DESC_OUT_ADDR", "c": "DESC_C", "k": "DESC_K",
    "h": "DESC_H", "w": "DESC_W", "in_pitch": "DESC_IN_PITCH", "out_pitch": "DESC_OUT_PITCH",
}
_DESC_FIELDS = {
    "pad_top": ("DESC_PADS", "TOP"), "pad_left": ("DESC_PADS", "LEFT"),
    "pad_bottom": ("DESC_PADS", "BOTTOM"), "pad_right": ("DESC_PADS", "RIGHT"),
    "x_zp": ("DESC_ZP", "X_ZP"), "out_zp": ("DESC_ZP", "OUT_ZP"),
    "x_signed": ("DESC_FLAGS", "X_SIGNED"), "requant": ("DESC_FLAGS", "REQUANT"),
    "relu": ("DESC_FLAGS", "RELU"), "out_signed": ("DESC_FLAGS", "OUT_SIGNED"),
}


def descriptor_writes(desc: dict) -> list[tuple[int, int]]:
    """``(offset, value)`` register writes that program the layer descriptor ``desc``.

    Keys: ``mode, in_addr, w_addr, q_addr, out_addr, c, k, h, w, in_pitch, out_pitch``
    (whole registers) and ``pad_top/left/bottom/right, x_zp, out_zp, x_signed,
    requant, relu, out_signed`` (fields; zero points as raw 8-bit patterns).
    Missing keys are written as 0; unknown keys and values that do not fit raise.
    """
    from .errors import WinnowParameterError

    words = {r: 0 for r in dict.fromkeys([*_DESC_REGISTERS.values(),
                                          *(r for r, _ in _DESC_FIELDS.values())])}
    for key, value in desc.items():
        value = int(value)
        if key in _DESC_REGISTERS:
            if not 0 <= value < 1 << 32:
                raise WinnowParameterError(f"descriptor {key}={value} does not fit 32 bits")
            words[_DESC_REGISTERS[key]] = value
        elif key in _DESC_FIELDS:
            reg, name = _DESC_FIELDS[key]
            f = next(f for f in BY_NAME[reg].fields if f.name == name)
            if not 0 <= value < 1 << f.width:
                raise WinnowParameterError(
                    f"descriptor {key}={value} does not fit the {f.width}-bit field {reg}.{name}")
            words[reg] |= value << f.lsb
        else:
            raise WinnowParameterError(f"unknown descriptor key {key!r}")
    return [(BY_NAME[r].offset, v) for r, v in words.items()]


def field(reg: str, name: str, word: int) -> int:
    """The value of field ``name`` of register ``reg`` in a read ``word``."""
    f = next(f for f in BY_NAME[reg].fields if f.name == name)
    return (word & f.mask) >> f.lsb
