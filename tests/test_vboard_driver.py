"""The register-level driver against a scripted register bus (pure Python, no simulator)."""

import numpy as np
import pytest
from winnow.hls.config import EngineConfig
from winnow.hls.regmap import BY_NAME, ENGINE_ID, VERSION, Error
from winnow.runtime.driver import (
    Driver,
    RegisterBus,
    WinnowConfigMismatchError,
    WinnowEngineError,
    WinnowTimeoutError,
)

OFF = {r.offset: r.name for r in BY_NAME.values()}


class ScriptedBus(RegisterBus):
    """Registers as a dict; STATUS follows ``status(cycle)``; counts cycles waited."""

    def __init__(self, status, caps0=None, caps1=None):
        cfg = EngineConfig()
        self.regs = {"ID": ENGINE_ID, "VERSION": VERSION,
                     "CAPS0": caps0 if caps0 is not None else cfg.pes | cfg.m << 8 | cfg.bus_bytes << 12,
                     "CAPS1": caps1 if caps1 is not None else cfg.max_channels}
        self.status, self.cycle, self.writes = status, 0, []

    def read32(self, offset):
        name = OFF[offset]
        return self.status(self.cycle) if name == "STATUS" else self.regs.get(name, 0)

    def write32(self, offset, value):
        self.writes.append((OFF[offset], value))

    def wait(self, cycles):
        self.cycle += cycles


def test_identity_and_caps():
    Driver(ScriptedBus(lambda c: 0)).check_identity()
    with pytest.raises(WinnowConfigMismatchError, match="capabilities"):
        Driver(ScriptedBus(lambda c: 0, caps1=64)).check_identity()


def test_run_programs_descriptor_then_start_and_polls():
    bus = ScriptedBus(lambda c: 0b10 if c >= 5000 else 0b01)
    cnt = Driver(bus).run({"c": 3, "k": 4, "h": 5, "w": 6}, expected_cycles=4000)
    assert bus.writes[-1] == ("CTRL", 1) and ("DESC_C", 3) in bus.writes
    assert 5000 <= bus.cycle < 5000 + 4000 // 32 + 64  # waited the estimate, then polled finely
    assert cnt.cycles == 0


def test_error_code_is_typed():
    bus = ScriptedBus(lambda c: Error.TOO_WIDE << 8)  # refused at START: not busy, not done
    with pytest.raises(WinnowEngineError, match="TOO_WIDE") as e:
        Driver(bus).run({"w": 60000})
    assert e.value.code is Error.TOO_WIDE and "STATUS" in e.value.registers


def test_watchdog_raises_with_status_registers():
    bus = ScriptedBus(lambda c: 0b01)  # busy forever
    with pytest.raises(WinnowTimeoutError, match="BUSY=1") as e:
        Driver(bus, timeout_cycles=100_000).run({"c": 1})
    assert e.value.registers["STATUS"] == 1 and e.value.cycles == 100_000
    assert np.isclose(bus.cycle, 100_000)
