"""``winnow dse``: a design-space sweep over engine configurations.

Each configuration is generated, synthesized (and for ECP5 placed and routed
for its achieved clock) in a pool of ``jobs`` worker threads (the tools are
subprocesses), then a network is projected on it at that clock
(:mod:`.projection`). Written into ``out``: ``dse.json``, ``dse.md``,
``dse_gops.png`` (GOPS against DSP blocks and LUT sites, Pareto front
marked) and ``dse_util_<network>.png`` (per-layer utilization of each
configuration), plus one folder of tool files per configuration.

A configuration is Pareto-optimal for a resource when no other configuration
that fits the part uses no more of it and projects at least as many GOPS,
one of the two strictly.
"""

from __future__ import annotations

import dataclasses
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from winnow.hls.config import EngineConfig
from winnow.models.benchmarks import NETWORKS, PAPER_GFLOPS
from winnow.rtl.synth import (
    PARTS,
    PLACER,
    ROUTER,
    DesignTooLargeError,
    Resources,
    Target,
    WinnowSynthError,
    find_tool,
    place_and_route,
    precheck,
    synthesize,
)

from .hwreport import NUMBER_FORMAT_NOTE
from .projection import Projection, project


@dataclass
class Point:
    """One configuration of the sweep and what it costs and delivers."""

    config: EngineConfig
    status: str  # "fits", "too large", "failed"
    resources: Resources | None
    fmax_mhz: float | None
    clock_hz: float
    clock_source: str
    projection: Projection
    synth_s: float = 0.0
    pnr_s: float = 0.0
    detail: str = ""
    critical_path: dict | None = None
    pareto_dsp: bool = False
    pareto_lut: bool = False

    @property
    def label(self) -> str:
        return label(self.config)

    @property
    def fits(self) -> bool:
        return self.status == "fits"

    @property
    def gops(self) -> float:
        return self.projection.effective_gops

    def clock_for(self, gops: float) -> float:
        """The clock (Hz) at which this configuration projects ``gops`` (GOPS scale with it)."""
        return gops / self.gops * self.clock_hz if self.gops else float("inf")

    def as_dict(self) -> dict:
        return {"label": self.label, "config": dataclasses.asdict(self.config),
                "multipliers": self.config.multipliers, "status": self.status,
                "detail": self.detail,
                "resources": self.resources.as_dict() if self.resources else None,
                "fmax_mhz": round(self.fmax_mhz, 2) if self.fmax_mhz else None,
                "clock_mhz": round(self.clock_hz / 1e6, 2), "clock_source": self.clock_source,
                "critical_path": self.critical_path, "pareto_dsp": self.pareto_dsp,
                "pareto_lut": self.pareto_lut, "synth_s": round(self.synth_s, 1),
                "pnr_s": round(self.pnr_s, 1), "projection": self.projection.summary(),
                "clock_mhz_for_paper": round(self.clock_for(PAPER_GFLOPS) / 1e6, 1)}


def label(cfg: EngineConfig) -> str:
    base = EngineConfig()
    s = f"{cfg.pes}PE"
    if cfg.line_buffer_bytes != base.line_buffer_bytes:
        s += f"/lb{cfg.line_buffer_bytes // 1024}K"
    if cfg.max_channels != base.max_channels:
        s += f"/c{cfg.max_channels}"
    return s


def evaluate(cfg: EngineConfig, out: Path, target: Target, network: str, *, pnr: bool,
             freq_mhz: float, clock_mhz: float | None, timeout: float, speed: int = 6,
             router: str = ROUTER, placer: str = PLACER, place_only: bool = False) -> Point:
    """Generate, synthesize, (place and route,) project one configuration. Tool failures and
    too-large designs become the point's ``status`` rather than exceptions."""
    from winnow.rtl.generate import generate

    part = PARTS[target]
    layers = NETWORKS[network]
    assumed = (clock_mhz or freq_mhz) * 1e6

    def point(status, res=None, fmax=None, detail="", synth_s=0.0, pnr_s=0.0, path=None):
        if fmax is not None and clock_mhz is None:
            clock, src = fmax * 1e6, ("estimated by nextpnr-ecp5 after placement" if place_only
                                      else "achieved by nextpnr-ecp5")
        else:
            clock = assumed
            src = "given" if clock_mhz else f"assumed ({freq_mhz:g} MHz target, not routed)"
        return Point(cfg, status, res, fmax, clock, src, project(network, layers, cfg, clock),
                     synth_s, pnr_s, detail, path)

    try:
        precheck(cfg, part)
    except DesignTooLargeError as e:
        return point("too large", detail=str(e))
    folder = Path(out) / label(cfg).replace("/", "_")
    try:
        generate(cfg, folder)
        syn = synthesize(folder, target, timeout=timeout)
    except WinnowSynthError as e:
        return point("failed", detail=str(e))
    over = syn.fits()
    if over:
        return point("too large", syn.resources, detail="; ".join(over), synth_s=syn.seconds)
    if not (pnr and target is Target.ECP5):
        return point("fits", syn.resources, synth_s=syn.seconds)
    try:
        pr = place_and_route(syn, freq_mhz, timeout=timeout, speed=speed, router=router,
                             placer=placer, place_only=place_only)
    except DesignTooLargeError as e:
        return point("too large", syn.resources, detail=str(e), synth_s=syn.seconds)
    except WinnowSynthError as e:
        return point("failed", syn.resources, detail=str(e), synth_s=syn.seconds)
    return point("fits", syn.resources, pr.fmax_mhz, synth_s=syn.seconds, pnr_s=pr.seconds,
                 path=pr.path_summary())


def mark_pareto(points: list[Point]) -> None:
    fitting = [p for p in points if p.fits and p.resources]
    for p in fitting:
        for key, attr in (("dsp", "pareto_dsp"), ("lut_sites", "pareto_lut")):
            mine = getattr(p.resources, key)
            dominated = any(
                getattr(q.resources, key) <= mine and q.gops >= p.gops
                and (getattr(q.resources, key) < mine or q.gops > p.gops)
                for q in fitting if q is not p)
            setattr(p, attr, not dominated)


def largest_fitting(points: list[Point]) -> Point | None:
    fitting = [p for p in points if p.fits]
    return max(fitting, key=lambda p: (p.config.multipliers, p.gops)) if fitting else None


def sweep(configs: list[EngineConfig], out: Path, *, target: Target = Target.ECP5,
          network: str = "vgg-a", pnr: bool = True, freq_mhz: float = 150,
          clock_mhz: float | None = None, jobs: int = 2, timeout: float = 3600,
          speed: int = 6, router: str = ROUTER, placer: str = PLACER, place_only: bool = False,
          log=print) -> list[Point]:
    """Evaluate every configuration, ``jobs`` at a time; points in the order given."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futs = [pool.submit(evaluate, c, out, target, network, pnr=pnr, freq_mhz=freq_mhz,
                            clock_mhz=clock_mhz, timeout=timeout, speed=speed, router=router,
                            placer=placer, place_only=place_only)
                for c in configs]
        points = []
        for f in futs:
            p = f.result()
            r = p.resources
            log(f"  {p.label}: {p.status}"
                + (f", {r.dsp} DSP, {r.lut_sites} LUT sites" if r else "")
                + (f", {p.fmax_mhz:.1f} MHz" if p.fmax_mhz else "")
                + f", {network} {p.gops:.1f} GOPS"
                + (f" ({p.synth_s + p.pnr_s:.0f} s)" if p.synth_s else ""))
            points.append(p)
    mark_pareto(points)
    return points


def markdown(points: list[Point], target: Target, network: str, seconds: float, jobs: int,
             plots: dict[str, str], tool: str = "yosys") -> str:
    part = PARTS[target]
    best = largest_fitting(points)
    out = [f"# Design-space sweep: {network} on {part.name}", "",
           f"{len(points)} configurations, {jobs} parallel jobs, {seconds / 60:.1f} min wall "
           f"time, synthesized with `{tool}`. GOPS: effective (2 ops per direct-convolution MAC, "
           "int8) on the network's 3x3 convs at each configuration's clock.", "",
           "| config | multipliers | status | DSP | LUT sites | FF | BRAM | clock MHz | "
           f"{network} GOPS | MHz for {PAPER_GFLOPS:g} GOPS | utilization | Pareto DSP / LUT | "
           "synth s | P&R s |",
           "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for p in points:
        r = p.resources
        res = (f"{r.dsp} | {r.lut_sites:,} | {r.ff:,} | {r.bram:g}" if r else "| | |")
        par = ("yes" if p.pareto_dsp else "no") + " / " + ("yes" if p.pareto_lut else "no")
        out.append(f"| {p.label} | {p.config.multipliers} | {p.status} | {res} | "
                   f"{p.clock_hz / 1e6:.1f}{'' if p.fmax_mhz else '*'} | {p.gops:.1f} | "
                   f"{p.clock_for(PAPER_GFLOPS) / 1e6:.0f} | "
                   f"{100 * p.projection.utilization:.1f}% | {par if p.fits else ''} | "
                   f"{p.synth_s:.0f} | {p.pnr_s:.0f} |")
    out += ["", "`*`: clock assumed, not from place and route.", ""]
    details = [p for p in points if p.detail]
    if details:
        out += ["Not fitting or failed:", ""] + [f"- {p.label}: {p.detail}" for p in details] + [""]
    if best:
        goal = "exceeds" if best.gops > PAPER_GFLOPS else "does not reach"
        out += [f"**Largest configuration that fits {part.name}: {best.label}** "
                f"({best.config.multipliers} multipliers, {best.resources.dsp}/{part.dsps} DSP, "
                f"{best.resources.lut_sites:,}/{part.luts:,} LUT sites), {best.gops:.1f} GOPS on "
                f"{network} at {best.clock_hz / 1e6:.1f} MHz: {goal} the paper's "
                f"{PAPER_GFLOPS:g} GFLOPS.", ""]
        if best.critical_path:
            cp = best.critical_path
            out += [f"Its critical path: `{cp['from']}` -> `{cp['to']}` "
                    f"({cp['total_ns']:.2f} ns, through " + " -> ".join(cp["modules"]) + ").", ""]
    else:
        out += [f"No configuration fits {part.name}.", ""]
    out += [NUMBER_FORMAT_NOTE, ""]
    for name, png in plots.items():
        out += [f"![{name}]({png})", ""]
    return "\n".join(out)


def write(points: list[Point], out: Path, *, target: Target, network: str, seconds: float,
          jobs: int, log=print) -> list[Path]:
    from .plots import WinnowPlotError, gops_vs_resources, utilization_bars

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    part = PARTS[target]
    plots: dict[str, str] = {}
    try:
        pts = [{"label": p.label, "dsp": p.resources.dsp, "lut_sites": p.resources.lut_sites,
                "gops": p.gops, "fits": p.fits, "pareto": p.pareto_dsp or p.pareto_lut}
               for p in points if p.resources]
        if pts:
            gops_vs_resources(pts, out / "dse_gops.png", network, PAPER_GFLOPS,
                              {"dsp": part.dsps, "lut_sites": part.luts}, part.name)
            plots["GOPS vs DSP and LUT use"] = "dse_gops.png"
        util = out / f"dse_util_{network}.png"
        utilization_bars({p.label: p.projection for p in points}, util,
                         f"{network}: per-layer MAC utilization by configuration")
        plots["per-layer utilization"] = util.name
    except WinnowPlotError as e:
        log(f"warning: {e}")
    best = largest_fitting(points)
    data = {"target": target.value, "part": part.name, "network": network,
            "paper_gflops": PAPER_GFLOPS, "seconds": round(seconds, 1), "jobs": jobs,
            "synthesis_tool": _tool_name(),
            "largest_fitting": best.label if best else None,
            "goal_met": bool(best and best.gops > PAPER_GFLOPS),
            "points": [p.as_dict() for p in points], "plots": plots}
    (out / "dse.json").write_text(json.dumps(data, indent=2) + "\n")
    (out / "dse.md").write_text(markdown(points, target, network, seconds, jobs, plots,
                                         data["synthesis_tool"]))
    return [out / "dse.md", out / "dse.json", *(out / v for v in plots.values())]


def _tool_name() -> str:
    try:
        return Path(find_tool("yosys")).name
    except WinnowSynthError:
        return "yosys (not found)"


def run(configs: list[EngineConfig], out: Path, *, target: Target, network: str, jobs: int,
        log=print, **kw) -> tuple[list[Point], list[Path]]:
    t0 = time.monotonic()
    points = sweep(configs, out, target=target, network=network, jobs=jobs, log=log, **kw)
    return points, write(points, out, target=target, network=network,
                         seconds=time.monotonic() - t0, jobs=jobs, log=log)
