"""The register-level driver: program a descriptor, start, poll, read counters, raise typed errors.

The driver talks to a :class:`RegisterBus` (32-bit register reads and writes
at byte offsets, and a way to let time pass) and a :class:`Memory` (the
engine's address space). The virtual board implements both over a Verilated
engine; a real board would implement them over an mmap'ed register window
and a DMA buffer, with ``wait`` sleeping. The driver does nothing else: every
value it learns comes from a register read.

Polling: after START the driver waits ``expected_cycles`` (the cycle model's
estimate, if given), then reads STATUS every ``poll_cycles`` cycles. A
watchdog raises :class:`WinnowTimeoutError` (with a snapshot of the status
and counter registers) when the engine is still busy after ``timeout_cycles``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np
from winnow.hls import regmap
from winnow.hls.config import EngineConfig
from winnow.hls.errors import WinnowError
from winnow.hls.regmap import BY_NAME, ENGINE_ID, Error, descriptor_writes, field


class WinnowBusError(WinnowError, RuntimeError):
    """A register access was refused (SLVERR/DECERR) or never answered."""


class WinnowEngineError(WinnowError, RuntimeError):
    """The engine refused or aborted a layer; ``code`` is the :class:`Error`, ``registers`` a snapshot."""

    def __init__(self, code: Error, registers: dict[str, int], desc: dict):
        self.code, self.registers, self.desc = code, registers, desc
        super().__init__(f"engine error {code.name} ({code.value}) for descriptor {desc}; "
                         f"registers {format_registers(registers)}")


class WinnowTimeoutError(WinnowError, TimeoutError):
    """The engine was still busy when the watchdog expired; ``registers`` is a snapshot."""

    def __init__(self, cycles: int, registers: dict[str, int], desc: dict):
        self.cycles, self.registers, self.desc = cycles, registers, desc
        status = registers.get("STATUS", 0)
        super().__init__(
            f"engine still busy after {cycles:,} cycles (watchdog): STATUS=0x{status:08x} "
            f"(BUSY={field('STATUS', 'BUSY', status)} DONE={field('STATUS', 'DONE', status)} "
            f"ERROR={field('STATUS', 'ERROR', status)}); registers {format_registers(registers)}")


class WinnowConfigMismatchError(WinnowError, RuntimeError):
    """The engine's ID or capability registers do not match the expected configuration."""


def format_registers(regs: dict[str, int]) -> str:
    return ", ".join(f"{k}=0x{v:x}" for k, v in regs.items())


class RegisterBus(abc.ABC):
    """32-bit registers at byte offsets of the engine's AXI4-Lite window."""

    @abc.abstractmethod
    def read32(self, offset: int) -> int: ...

    @abc.abstractmethod
    def write32(self, offset: int, value: int) -> None: ...

    @abc.abstractmethod
    def wait(self, cycles: int) -> None:
        """Let ``cycles`` engine clock cycles pass (a real board sleeps)."""


class Memory(abc.ABC):
    """The engine's memory: byte addresses as the engine sees them."""

    size: int

    @abc.abstractmethod
    def write(self, addr: int, data: np.ndarray) -> None:
        """Copy ``data`` (any dtype, C-contiguous) to ``addr``."""

    @abc.abstractmethod
    def read(self, addr: int, nbytes: int) -> np.ndarray:
        """A uint8 copy of ``nbytes`` at ``addr``."""


@dataclass(frozen=True)
class Counters:
    """The engine's counters after one run (engine clock cycles)."""

    cycles: int  # START to DONE
    busy: int
    stall: int  # busy cycles waiting for memory
    mac: int  # cycles with the multipliers fed

    @property
    def utilization(self) -> float:
        return self.mac / self.cycles if self.cycles else 0.0


_SNAPSHOT = ("STATUS", "DESC_MODE", "DESC_C", "DESC_K", "DESC_H", "DESC_W", "CYCLES_LO",
             "BUSY_LO", "STALL_LO", "MAC_LO")


class Driver:
    """Runs layers on one engine through ``bus``; see the module docstring."""

    def __init__(self, bus: RegisterBus, config: EngineConfig | None = None, *,
                 poll_cycles: int = 2048, timeout_cycles: int = 1 << 32):
        self.bus = bus
        self.config = config or EngineConfig()
        self.poll_cycles = poll_cycles
        self.timeout_cycles = timeout_cycles

    def _reg(self, name: str) -> int:
        return self.bus.read32(BY_NAME[name].offset)

    def check_identity(self) -> None:
        """Raise unless ID, VERSION and CAPS match :attr:`config`."""
        ident, version = self._reg("ID"), self._reg("VERSION")
        if ident != ENGINE_ID or version >> 16 != regmap.VERSION >> 16:
            raise WinnowConfigMismatchError(
                f"not a Winnow engine of register map v{regmap.VERSION >> 16}: "
                f"ID=0x{ident:08x} VERSION=0x{version:08x}")
        caps0, caps1 = self._reg("CAPS0"), self._reg("CAPS1")
        cfg = self.config
        got = {"pes": field("CAPS0", "PES", caps0), "bus_bytes": field("CAPS0", "BUS_BYTES", caps0),
               "m": field("CAPS0", "M", caps0),
               "max_channels": field("CAPS1", "MAX_CHANNELS", caps1)}
        want = {k: getattr(cfg, k) for k in got}
        if got != want:
            raise WinnowConfigMismatchError(f"engine capabilities {got} differ from the "
                                            f"configuration {want}")

    def status(self) -> int:
        return self._reg("STATUS")

    def snapshot(self) -> dict[str, int]:
        """Status, descriptor size fields and counter low words, for error messages."""
        return {name: self._reg(name) for name in _SNAPSHOT}

    def counter(self, prefix: str) -> int:
        lo = self._reg(prefix + "_LO")  # latches _HI
        return self._reg(prefix + "_HI") << 32 | lo

    def counters(self) -> Counters:
        return Counters(self.counter("CYCLES"), self.counter("BUSY"), self.counter("STALL"),
                        self.counter("MAC"))

    def start(self, desc: dict) -> None:
        for offset, value in descriptor_writes(desc):
            self.bus.write32(offset, value)
        self.bus.write32(BY_NAME["CTRL"].offset, 1)

    def abort(self) -> None:
        self.bus.write32(BY_NAME["CTRL"].offset, 2)

    def wait_done(self, desc: dict, expected_cycles: int = 0) -> Counters:
        """Poll until DONE; raise on an error code or when the watchdog expires."""
        waited = 0
        if expected_cycles > 0:
            first = min(int(expected_cycles), self.timeout_cycles)
            self.bus.wait(first)
            waited = first
        while True:
            status = self.status()
            if not field("STATUS", "BUSY", status) and field("STATUS", "DONE", status):
                break
            if not field("STATUS", "BUSY", status) and field("STATUS", "ERROR", status):
                break  # refused at START: not busy, not done
            if waited >= self.timeout_cycles:
                raise WinnowTimeoutError(waited, self.snapshot(), desc)
            poll = self.poll_cycles if expected_cycles <= 0 else max(
                64, min(self.poll_cycles, int(expected_cycles) // 32))
            step = min(poll, self.timeout_cycles - waited)
            self.bus.wait(step)
            waited += step
        code = Error(field("STATUS", "ERROR", status))
        if code is not Error.NONE:
            raise WinnowEngineError(code, self.snapshot(), desc)
        return self.counters()

    def run(self, desc: dict, expected_cycles: int = 0) -> Counters:
        """Program ``desc``, start, wait; the run's counters."""
        self.start(desc)
        return self.wait_done(desc, expected_cycles)
