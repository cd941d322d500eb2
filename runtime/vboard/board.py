"""``VirtualBoard``: the Verilated engine with its harness, loaded with ctypes.

It is a :class:`~winnow.runtime.driver.RegisterBus` (AXI4-Lite transactions
simulated cycle by cycle in C++) and a :class:`~winnow.runtime.driver.Memory`
(the harness's byte array, seen from Python as a zero-copy numpy view). Time
passes only inside C++ calls: ``wait(n)`` runs ``n`` clock cycles.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np
from winnow.hls.config import EngineConfig
from winnow.hls.errors import WinnowParameterError

from ..driver import Memory, RegisterBus, WinnowBusError
from .build import BuildInfo, build

#: AXI4-Lite transaction budget before a register access counts as unanswered.
REG_TIMEOUT = 10_000
_VP, _U32, _U64 = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64


def _load(path: Path) -> ctypes.CDLL:
    lib = ctypes.CDLL(os.fspath(path))
    sigs = {
        "vb_create": (_VP, [_U64, _U32]), "vb_destroy": (None, [_VP]),
        "vb_mem": (ctypes.POINTER(ctypes.c_uint8), [_VP]), "vb_mem_size": (_U64, [_VP]),
        "vb_cycle": (_U64, [_VP]), "vb_set_read_latency": (None, [_VP, _U32]),
        "vb_set_stall_reads": (None, [_VP, ctypes.c_int]),
        "vb_counters": (None, [_VP, ctypes.POINTER(_U64)]), "vb_reset": (None, [_VP, _U32]),
        "vb_run": (None, [_VP, _U64]),
        "vb_reg_write": (ctypes.c_int, [_VP, _U32, _U32, _U64]),
        "vb_reg_read": (ctypes.c_int, [_VP, _U32, ctypes.POINTER(_U32), _U64]),
        "vb_trace_open": (ctypes.c_int, [_VP, ctypes.c_char_p]), "vb_trace_close": (None, [_VP]),
        "vb_bus_bytes": (ctypes.c_int, []), "vb_has_trace": (ctypes.c_int, []),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


class VirtualBoard(RegisterBus, Memory):
    """One engine of ``config`` on the virtual board.

    * ``mem_bytes``: size of the memory array (allocated lazily by the OS; at
      most 4 GiB, the engine's 32-bit address space).
    * ``read_latency``: cycles from an AR handshake to the first R beat
      (default: ``config.mem_latency``, what the cycle model assumes).
    * ``trace``: build the variant that can dump VCD waveforms (:meth:`trace`).
    """

    def __init__(self, config: EngineConfig | None = None, *, mem_bytes: int = 1 << 30,
                 read_latency: int | None = None, trace: bool = False):
        self.config = config or EngineConfig()
        if not 4096 <= mem_bytes <= 1 << 32:
            raise WinnowParameterError(f"mem_bytes must be in [4096, 2**32], not {mem_bytes}")
        self.build: BuildInfo = build(self.config, trace=trace)
        self._lib = _load(self.build.library)
        latency = self.config.mem_latency if read_latency is None else read_latency
        self._h = self._lib.vb_create(mem_bytes, latency)
        if not self._h:
            raise MemoryError(f"virtual board: cannot allocate {mem_bytes} bytes of memory")
        self.size = int(self._lib.vb_mem_size(self._h))
        ptr = self._lib.vb_mem(self._h)
        self._mem = np.ctypeslib.as_array(ptr, shape=(self.size,))
        self.reset()

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        if getattr(self, "_h", None):
            self._mem = None
            self._lib.vb_destroy(self._h)
            self._h = None

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def reset(self, cycles: int = 8) -> None:
        """Board reset: engine and memory model (memory contents are kept)."""
        self._lib.vb_reset(self._h, cycles)

    # ------------------------------------------------------------------ RegisterBus
    def read32(self, offset: int) -> int:
        v = _U32()
        rc = self._lib.vb_reg_read(self._h, offset, ctypes.byref(v), REG_TIMEOUT)
        if rc != 0:
            raise WinnowBusError(f"register read at 0x{offset:03x}: "
                                 + ("no response" if rc < 0 else f"RRESP={rc}"))
        return int(v.value)

    def write32(self, offset: int, value: int) -> None:
        rc = self._lib.vb_reg_write(self._h, offset, int(value) & 0xFFFFFFFF, REG_TIMEOUT)
        if rc != 0:
            raise WinnowBusError(f"register write 0x{value:x} at 0x{offset:03x}: "
                                 + ("no response" if rc < 0 else f"BRESP={rc}"))

    def wait(self, cycles: int) -> None:
        self._lib.vb_run(self._h, int(cycles))

    # ------------------------------------------------------------------ Memory
    def _span(self, addr: int, nbytes: int) -> slice:
        if addr < 0 or addr + nbytes > self.size:
            raise WinnowParameterError(f"[0x{addr:x}, +{nbytes}) is outside the board's "
                                       f"{self.size}-byte memory")
        return slice(addr, addr + nbytes)

    def write(self, addr: int, data: np.ndarray) -> None:
        raw = np.ascontiguousarray(data).reshape(-1).view(np.uint8)
        self._mem[self._span(addr, raw.size)] = raw

    def read(self, addr: int, nbytes: int) -> np.ndarray:
        return self._mem[self._span(addr, nbytes)].copy()

    def view(self, addr: int, nbytes: int) -> np.ndarray:
        """A zero-copy uint8 view (valid while the board is open)."""
        return self._mem[self._span(addr, nbytes)]

    # ------------------------------------------------------------------ board controls
    @property
    def cycle(self) -> int:
        """Clock cycles since the board was created."""
        return int(self._lib.vb_cycle(self._h))

    def stats(self) -> dict[str, int]:
        out = (_U64 * 4)()
        self._lib.vb_counters(self._h, out)
        return dict(zip(("cycles", "read_beats", "write_beats", "slverr"), map(int, out),
                        strict=True))

    def set_read_latency(self, cycles: int) -> None:
        self._lib.vb_set_read_latency(self._h, int(cycles))

    def stall_reads(self, on: bool = True) -> None:
        """A broken memory: read bursts are accepted but no data ever returns."""
        self._lib.vb_set_stall_reads(self._h, int(bool(on)))

    def trace(self, path: str | os.PathLike) -> None:
        """Dump a VCD waveform from now until :meth:`trace_close` (needs ``trace=True``)."""
        if not self.build.trace:
            raise WinnowParameterError("this board was built without trace support; "
                                       "open it with VirtualBoard(..., trace=True)")
        rc = self._lib.vb_trace_open(self._h, os.fsencode(path))
        if rc != 0:
            raise WinnowParameterError(f"cannot open a trace (code {rc}): one is already open")

    def trace_close(self) -> None:
        self._lib.vb_trace_close(self._h)
