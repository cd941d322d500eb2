"""``winnow rtl report``: resources, clock and projected throughput of one engine build.

Steps: generate the Verilog (:mod:`winnow.rtl.generate`), synthesize it for
each target (:func:`winnow.rtl.synth.synthesize`, in parallel), place and
route the ECP5 netlist (:func:`winnow.rtl.synth.place_and_route`) for the
achieved clock and critical path, then project the paper's networks (and any
ONNX models) at that clock (:mod:`.projection`). Written: ``report.json``
(for programs), ``report.md`` (for people) and ``util_<network>.png`` beside it.
"""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from winnow.hls.config import EngineConfig
from winnow.models.benchmarks import NETWORKS, PAPER_GFLOPS, PAPER_REF
from winnow.rtl.synth import (
    PARTS,
    PLACER,
    REQUANT_DSPS_PER_LANE,
    ROUTER,
    DesignTooLargeError,
    PnRIncompleteError,
    PnRResult,
    SynthResult,
    Target,
    expected_dsps,
    find_tool,
    place_and_route,
    precheck,
    synthesize,
)

from .projection import Projection, onnx_convs, project

NUMBER_FORMAT_NOTE = (
    f"The paper ({PAPER_REF}) reports {PAPER_GFLOPS:g} GFLOPS over the 3x3 convolutions of "
    "these networks with 32-bit floating point on a Virtex-7 (vendor HLS tools). Winnow "
    "computes int8 activations and weights with exact int32 accumulation: an int8 multiplier "
    "fits one DSP block where an fp32 multiply-add needs several DSPs plus LUTs, so GOPS "
    "here and GFLOPS there are not the same work per operation. Both count 2 operations per "
    "direct-convolution MAC (Winograd's saved multiplies are not counted as work). Projected "
    "figures are from the cycle model, with ideal memory of 'mem_latency' cycles and one bus "
    "word per cycle each way; host work between layers is not included.")


@dataclass
class HardwareReport:
    config: EngineConfig
    synth: dict[Target, SynthResult]
    pnr: PnRResult | None
    clock_hz: float
    clock_source: str
    projections: dict[str, Projection]
    measured: list[dict] = field(default_factory=list)
    board_vgg: dict | None = None  # ``vgg_a`` of tests/bench/bench_rtl.py's rtl.json
    plots: dict[str, str] = field(default_factory=dict)
    pnr_error: str = ""  # place and route did not finish: why (and its placement estimate)

    def vgg_board_vs_projection(self) -> dict | None:
        """VGG-A measured on the virtual board (engine counters) against this report's VGG-A
        projection, layer by layer (in order), when both exist for the same configuration."""
        b, proj = self.board_vgg, self.projections.get("vgg-a")
        if not b or proj is None or len(b.get("layers", [])) != len(proj.engine):
            return None
        rows = []
        for m, p in zip(b["layers"], proj.engine, strict=True):
            rows.append({"layer": p.layer.name, "board_node": m["node"],
                         "measured_cycles": m["cycles"], "projected_cycles": p.cycles,
                         "measured_utilization": m["utilization"],
                         "projected_utilization": round(p.utilization, 4),
                         "utilization_difference": round(p.utilization - m["utilization"], 4)})
        meas = b.get("conv3x3_utilization")
        cyc = sum(r["measured_cycles"] for r in rows)
        return {"config": b.get("config"), "layers": rows, "measured_utilization": meas,
                "projected_utilization": round(proj.utilization, 4),
                "measured_cycles": cyc, "projected_cycles": proj.engine_cycles,
                "measured_gops": round(2 * proj.engine_macs * self.clock_hz / cyc / 1e9, 2),
                "projected_gops": round(proj.effective_gops, 2)}

    def measured_vs_model(self) -> list[dict]:
        """Virtual-board measurements (``cycles``, ``mac``, ``model`` per layer) against the
        cycle model: utilization measured vs assumed."""
        rows = []
        for m in self.measured:
            if not m.get("cycles") or not m.get("mac"):
                continue
            model = m.get("model")
            rows.append({"layer": m.get("layer", "?"), "cycles": m["cycles"], "model_cycles": model,
                         "measured_utilization": round(m["mac"] / m["cycles"], 4),
                         "model_utilization": round(m["mac"] / model, 4) if model else None,
                         "cycle_error": round(model / m["cycles"] - 1, 5) if model else None})
        return rows

    def as_dict(self) -> dict:
        return {"config": dataclasses.asdict(self.config), "multipliers": self.config.multipliers,
                "synthesis": {t.value: s.as_dict() for t, s in self.synth.items()},
                "place_and_route": self.pnr.as_dict() if self.pnr else None,
                "place_and_route_error": self.pnr_error or None,
                "clock_mhz": round(self.clock_hz / 1e6, 2), "clock_source": self.clock_source,
                "paper_gflops": PAPER_GFLOPS, "number_format": NUMBER_FORMAT_NOTE,
                "projections": {k: p.as_dict() for k, p in self.projections.items()},
                "measured_vs_model": self.measured_vs_model(),
                "vgg_a_board_vs_projection": self.vgg_board_vs_projection(), "plots": self.plots}

    def markdown(self) -> str:
        cfg = self.config
        out = [f"# Winnow engine: {cfg.pes} PEs, {cfg.multipliers} multipliers", "",
               f"Configuration: `pes={cfg.pes}`, `max_channels={cfg.max_channels}`, "
               f"`line_buffer_bytes={cfg.line_buffer_bytes}`, `bus_bytes={cfg.bus_bytes}`, "
               f"`max_burst={cfg.max_burst}`, `mem_latency={cfg.mem_latency}` (cycle model).", ""]
        out += self._resources_md() + self._timing_md() + self._projection_md()
        out += self._measured_md() + self._board_vgg_md()
        out += ["## Per-layer projections", ""]
        for name, p in self.projections.items():
            out.append(p.markdown())
            if name in self.plots:
                out += [f"![{name} per-layer utilization]({self.plots[name]})", ""]
        return "\n".join(out)

    def _resources_md(self) -> list[str]:
        if not self.synth:
            return []
        out = ["## Resources (Yosys)", "",
               "| target | part | DSP | LUT | LUT sites | FF | block RAM | LUT RAM | carry | fits | "
               "synthesis |",
               "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
        for t, s in self.synth.items():
            r, p = s.resources, s.part
            fits = "yes" if not s.fits() else "**no**: " + "; ".join(s.fits())
            out.append(f"| {t.value} | {p.name} | {r.dsp} / {p.dsps} {p.dsp_kind} | {r.lut:,} | "
                       f"{r.lut_sites:,} / {p.luts:,} | {r.ff:,} / {p.ffs:,} | {r.bram:g} / "
                       f"{p.brams} {p.bram_kind} | {r.lutram:,} | {r.carry:,} | {fits} | "
                       f"{s.seconds:.0f} s |")
        out += ["", "LUT sites: logic LUTs plus the sites that carry chains and LUT RAM occupy "
                "(ECP5: 2 per CCU2C, 2 per 16x4 RAM).", "", "DSP blocks by source module:", ""]
        want = expected_dsps(self.config)
        for t, s in self.synth.items():
            got = s.dsp_by_module
            same = got == want and s.resources.dsp == sum(want.values())
            out.append(f"- {t.value}: {s.resources.dsp} blocks: "
                       + ", ".join(f"{v} in `{k}`" for k, v in got.items())
                       + (" — one per multiplier of the design: the "
                          f"{self.config.multipliers} Winograd multipliers and "
                          f"{REQUANT_DSPS_PER_LANE} per requantizer lane (17x17-bit partial "
                          "products of the 33x31-bit requantization multiply)" if same else
                          f" — **expected** {sum(want.values())} (" + ", ".join(
                              f"{v} in `{k}`" for k, v in want.items()) + ")"))
        return out + [""]

    def _timing_md(self) -> list[str]:
        if self.pnr is None:
            out = ["## Clock", "", f"Projections assume {self.clock_hz / 1e6:.0f} MHz "
                   f"({self.clock_source}).", ""]
            if self.pnr_error:
                out += [f"Place and route (nextpnr-ecp5) did not finish: {self.pnr_error}.", ""]
            return out
        p = self.pnr
        cp = p.path_summary()
        if not p.routed:
            return ["## Clock (nextpnr-ecp5, out of context, placement only)", "",
                    f"Estimated **{p.fmax_mhz:.1f} MHz** after placement on speed grade {p.speed} "
                    f"(not routed: no routed clock and no critical path; placement took "
                    f"{p.seconds:.0f} s).", ""]
        out = ["## Clock (nextpnr-ecp5, out of context)", "",
               f"Achieved **{p.fmax_mhz:.1f} MHz** on speed grade {p.speed} (target "
               f"{p.target_mhz:g} MHz, {'met' if p.met else 'missed'}; {p.placer} placer, "
               f"{p.router}); place and route took {p.seconds:.0f} s.", ""]
        if cp:
            out += [f"Critical path: `{cp['from']}` -> `{cp['to']}`, {cp['total_ns']:.2f} ns "
                    f"({cp['logic_ns']:.2f} ns logic in {cp['logic_levels']} "
                    f"level{'' if cp['logic_levels'] == 1 else 's'}, "
                    f"{cp['routing_ns']:.2f} ns routing), through "
                    + " -> ".join(f"`{m}`" for m in cp["modules"]) + ".", ""]
        if p.utilization:
            out += ["nextpnr utilization: " + ", ".join(
                f"{k} {v['used']}/{v['available']}" for k, v in sorted(p.utilization.items())), ""]
        return out

    def _projection_md(self) -> list[str]:
        out = ["## Projected throughput against the paper", "",
               f"At {self.clock_hz / 1e6:.1f} MHz ({self.clock_source}), batch 1, 3x3 stride-1 "
               "convs on the engine (grouped convs as one engine layer per group):", "",
               "| network | 3x3 share of conv MACs | engine ms | MAC utilization | effective GOPS "
               "(int8) | paper GFLOPS (fp32) | ratio |",
               "|---|---:|---:|---:|---:|---:|---:|"]
        for name, p in self.projections.items():
            s = p.summary()
            out.append(f"| {name} | {100 * s['coverage']:.1f}% | {s['engine_ms']:.2f} | "
                       f"{100 * s['utilization']:.1f}% | **{s['effective_gops']:.1f}** | "
                       f"{PAPER_GFLOPS:g} | {s['effective_gops'] / PAPER_GFLOPS:.2f}x |")
        return out + ["", NUMBER_FORMAT_NOTE, ""]

    def _measured_md(self) -> list[str]:
        rows = self.measured_vs_model()
        if not rows:
            return []
        out = ["## Cycle model against the virtual board", "",
               "Measured by the RTL simulation (engine counters) on this engine configuration:", "",
               "| layer | measured cycles | model cycles | error | measured utilization | "
               "model utilization |", "|---|---:|---:|---:|---:|---:|"]
        for r in rows:
            err = f"{100 * r['cycle_error']:+.2f}%" if r["cycle_error"] is not None else ""
            mu = f"{100 * r['model_utilization']:.1f}%" if r["model_utilization"] else ""
            mc = f"{r['model_cycles']:,}" if r['model_cycles'] else ''
            out.append(f"| {r['layer']} | {r['cycles']:,} | {mc} | {err} | "
                       f"{100 * r['measured_utilization']:.1f}% | {mu} |")
        return out + [""]

    def _board_vgg_md(self) -> list[str]:
        v = self.vgg_board_vs_projection()
        if v is None:
            return []
        out = ["## VGG-A on the virtual board against the projection", "",
               f"Measured by the engine's counters in the Verilated engine "
               f"({self.board_vgg.get('source', '')}; same PEs, bus and memory latency):", "",
               "| layer | measured cycles | projected cycles | measured utilization | "
               "projected utilization | difference |", "|---|---:|---:|---:|---:|---:|"]
        for r in v["layers"]:
            out.append(f"| {r['layer']} | {r['measured_cycles']:,} | {r['projected_cycles']:,} | "
                       f"{100 * r['measured_utilization']:.2f}% | "
                       f"{100 * r['projected_utilization']:.2f}% | "
                       f"{100 * r['utilization_difference']:+.2f} pt |")
        out += ["", f"All eight layers: measured utilization {100 * v['measured_utilization']:.2f}%, "
                f"projected {100 * v['projected_utilization']:.2f}%; at {self.clock_hz / 1e6:.1f} "
                f"MHz that is {v['measured_gops']:.1f} GOPS measured against "
                f"{v['projected_gops']:.1f} GOPS projected.", ""]
        return out


def load_measured(paths, cfg: EngineConfig) -> tuple[list[dict], dict | None]:
    """Virtual-board measurements from the files that exist among ``paths``: per-layer lists
    (``build/sim/perf_*.json``: ``layer``, ``cycles``, ``mac``, ``model``) and the VGG-A run of
    ``build/bench/rtl.json`` (used only when measured on ``cfg``'s PEs, bus and latency)."""
    layers, vgg = [], None
    for path in paths or ():
        path = Path(path)
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        if isinstance(data, list):
            layers += data
        elif isinstance(data, dict) and "vgg_a" in data:
            c = data.get("config", {})
            if (c.get("pes"), c.get("bus_bytes"), c.get("mem_latency")) == (
                    cfg.pes, cfg.bus_bytes, cfg.mem_latency):
                vgg = {**data["vgg_a"], "config": c, "source": str(path)}
    return layers, vgg


def projections_for(cfg: EngineConfig, clock_hz: float, networks, onnx_models=()
                    ) -> dict[str, Projection]:
    out = {name: project(name, NETWORKS[name], cfg, clock_hz) for name in networks}
    for path in onnx_models:
        name = Path(path).stem
        out[name] = project(name, onnx_convs(path), cfg, clock_hz)
    return out


def build_report(cfg: EngineConfig, out: Path, targets: list[Target], *, freq_mhz: float = 150,
                 pnr: bool = True, clock_mhz: float | None = None, networks=tuple(NETWORKS),
                 onnx_models=(), measured=(), jobs: int = 2,
                 timeout: float = 3600, force: bool = False, speed: int = 6,
                 router: str = ROUTER, placer: str = PLACER, place_only: bool = False,
                 log=print) -> HardwareReport:
    """Generate, synthesize, place and route and project; see the module docstring.

    Before any tool runs: :class:`~winnow.rtl.synth.ToolMissingError` when a tool is not
    installed, and (unless ``force``) :class:`~winnow.rtl.synth.DesignTooLargeError` when the
    multipliers alone exceed a target part's DSP blocks."""
    from winnow.rtl.generate import generate

    out = Path(out)
    if targets:
        find_tool("yosys")
    if pnr and Target.ECP5 in targets:
        find_tool("nextpnr-ecp5")
    if not force:
        for t in targets:
            precheck(cfg, PARTS[t])
    log(f"generating Verilog for {cfg.pes} PEs into {out}")
    generate(cfg, out)
    synth: dict[Target, SynthResult] = {}
    if targets:
        log(f"synthesizing for {', '.join(t.value for t in targets)} ({jobs} jobs)")
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futs = {t: pool.submit(synthesize, out, t, timeout=timeout) for t in targets}
            for t, f in futs.items():
                synth[t] = f.result()
                r = synth[t].resources
                log(f"  {t.value}: {r.dsp} DSP, {r.lut} LUT, {r.ff} FF, {r.bram:g} BRAM "
                    f"({synth[t].seconds:.0f} s)")
    pnr_res, pnr_error = None, ""
    if pnr and Target.ECP5 in synth:
        over = synth[Target.ECP5].fits()
        if not over:
            what = (f"placing ({placer}, no routing)" if place_only
                    else f"placing ({placer}) and routing ({router})")
            log(f"{what} for {synth[Target.ECP5].part.name}-{speed} at {freq_mhz:g} MHz")
            try:
                pnr_res = place_and_route(synth[Target.ECP5], freq_mhz, timeout=timeout,
                                          speed=speed, router=router, placer=placer,
                                          place_only=place_only)
                how = "achieved" if pnr_res.routed else "estimated after placement (not routed):"
                log(f"  {how} {pnr_res.fmax_mhz:.1f} MHz ({pnr_res.seconds:.0f} s)")
            except PnRIncompleteError as e:  # the report is still written, saying so
                pnr_error = str(e)
                log(f"  place and route incomplete: {e}")
    if clock_mhz is not None:
        clock_hz, source = clock_mhz * 1e6, "given with --clock-mhz"
    elif pnr_res is not None:
        clock_hz, source = pnr_res.fmax_mhz * 1e6, (
            "achieved by nextpnr-ecp5" if pnr_res.routed
            else "estimated by nextpnr-ecp5 after placement, not routed")
    else:
        clock_hz, source = freq_mhz * 1e6, "assumed: the --freq target, not placed and routed"
    projs = projections_for(cfg, clock_hz, networks, onnx_models)
    layers, vgg = load_measured(measured, cfg)
    return HardwareReport(cfg, synth, pnr_res, clock_hz, source, projs, layers, vgg,
                          pnr_error=pnr_error)


def write_report(rep: HardwareReport, out: Path, plot_network: str | None = "vgg-a",
                 log=print) -> list[Path]:
    """Write ``report.json``, ``report.md`` and the utilization plot; raise
    :class:`DesignTooLargeError` afterwards when a target does not fit its part."""
    from .plots import WinnowPlotError, utilization_bars

    out = Path(out)
    written = []
    names = [plot_network] if plot_network in rep.projections else []
    for name in names:
        png = out / f"util_{name}.png"
        try:
            utilization_bars({f"{rep.config.pes} PEs": rep.projections[name]}, png,
                             f"{name}: per-layer MAC utilization, {rep.config.pes} PEs")
            rep.plots[name] = png.name
            written.append(png)
        except WinnowPlotError as e:
            log(f"warning: {e}")
    (out / "report.json").write_text(json.dumps(rep.as_dict(), indent=2) + "\n")
    (out / "report.md").write_text(rep.markdown())
    written = [out / "report.md", out / "report.json", *written]
    over = {t: s.fits() for t, s in rep.synth.items() if s.fits()}
    if over:
        raise DesignTooLargeError("design too large (report written to "
                                  f"{out / 'report.md'}): " + "; ".join(
                                      f"{rep.synth[t].part.name}: " + ", ".join(o)
                                      for t, o in over.items()))
    return written
