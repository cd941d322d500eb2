"""The placement and error report of a session: a table to print, JSON to save."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field


@dataclass
class NodeRow:
    """One ONNX node: where it ran, why, and what it cost (engine layers: last run)."""

    node: str
    op_type: str
    target: str  # "engine" | "host"
    reason: str
    detail: str
    layer: str = ""  # engine layer kind (e.g. "QLinearConv"), empty on the host
    mode: str = ""  # "conv" | "gemm"
    macs: int = 0
    cycles: int = 0  # estimated by the hls cycle model (emu) or measured (rtl)
    model_cycles: int = 0  # the hls cycle model's estimate for the same runs
    mac_cycles: int = 0  # cycles with the multipliers fed (engine MAC counter on rtl)
    stall_cycles: int = 0  # busy cycles waiting for memory (rtl)
    engine_runs: int = 0  # descriptors (passes) the layer took
    measured: bool = False  # cycles come from the engine's counters
    runs: int = 0
    host_fallbacks: int = 0  # runs in which the layer ran on the host instead (exact policy)
    range_source: str = ""  # float layers: lossless / calibration / dynamic
    max_abs_err: float | None = None  # float layers vs the fp32 node on the same inputs
    cosine: float | None = None

    @property
    def utilization(self) -> float | None:
        """MAC-active cycles over cycles (None when the layer did not run on the engine)."""
        return self.mac_cycles / self.cycles if self.cycles else None


@dataclass
class OutputRow:
    """One graph output against onnxruntime running the whole model (float outputs)."""

    name: str
    max_abs_err: float
    cosine: float
    bit_exact: bool


@dataclass
class Report:
    model: str
    device: str
    policy: str
    nodes: list[NodeRow] = field(default_factory=list)
    outputs: list[OutputRow] = field(default_factory=list)
    host_segments: int = 0
    engine_layers: int = 0
    engine_regions: int = 0  # maximal runs of consecutive engine steps in the schedule
    runs: int = 0
    clock_hz: float = 200e6  # engine clock the simulated time is stated at

    @property
    def engine_macs(self) -> int:
        return sum(r.macs for r in self.nodes if r.target == "engine")

    @property
    def engine_cycles(self) -> int:
        return sum(r.cycles for r in self.nodes if r.target == "engine")

    @property
    def model_cycles(self) -> int:
        return sum(r.model_cycles for r in self.nodes if r.target == "engine")

    @property
    def mac_cycles(self) -> int:
        return sum(r.mac_cycles for r in self.nodes if r.target == "engine")

    @property
    def utilization(self) -> float:
        """MAC-active over all engine cycles of the last run (0 when nothing ran)."""
        return self.mac_cycles / self.engine_cycles if self.engine_cycles else 0.0

    @property
    def engine_seconds(self) -> float:
        """Engine time of the last run at :attr:`clock_hz` (host time not included)."""
        return self.engine_cycles / self.clock_hz

    def offloaded(self) -> list[str]:
        """Names of the nodes computed as engine layers (fused Q/DQ nodes excluded)."""
        return [r.node for r in self.nodes if r.target == "engine" and r.reason == "offloaded"]

    def as_dict(self) -> dict:
        d = asdict(self)
        d["summary"] = {"engine_layers": self.engine_layers, "engine_regions": self.engine_regions,
                        "host_segments": self.host_segments, "engine_macs": self.engine_macs,
                        "engine_cycles": self.engine_cycles, "model_cycles": self.model_cycles,
                        "mac_cycles": self.mac_cycles, "utilization": round(self.utilization, 4),
                        "clock_hz": self.clock_hz, "engine_seconds": self.engine_seconds,
                        "runs": self.runs}
        for row, node in zip(d["nodes"], self.nodes, strict=True):
            row["utilization"] = node.utilization
        return d

    def save(self, path: str | os.PathLike) -> None:
        with open(path, "w") as f:
            json.dump(self.as_dict(), f, indent=2)
            f.write("\n")

    def table(self) -> str:
        head = ("node", "op", "where", "why", "MACs", "cycles", "model", "util", "max|err|",
                "cosine")
        rows = [head]
        for r in self.nodes:
            why = r.reason if r.target == "engine" else f"{r.reason}: {r.detail}"
            if r.host_fallbacks:
                why += f" ({r.host_fallbacks} host fallbacks)"
            rows.append((r.node, r.op_type, r.target, why[:70], f"{r.macs:,}" if r.macs else "",
                         f"{r.cycles:,}" if r.cycles else "",
                         f"{r.model_cycles:,}" if r.model_cycles else "",
                         "" if r.utilization is None else f"{100 * r.utilization:.1f}%",
                         "" if r.max_abs_err is None else f"{r.max_abs_err:.3g}",
                         "" if r.cosine is None else f"{r.cosine:.6f}"))
        widths = [max(len(str(row[c])) for row in rows) for c in range(len(head))]
        lines = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
                 for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append("")
        lines.append(f"{self.engine_layers} engine layers in {self.engine_regions} regions, "
                     f"{self.host_segments} host segments; engine {self.engine_macs:,} MACs, "
                     f"{self.engine_cycles:,} cycles (last run, device {self.device})")
        if self.engine_cycles:
            kind = "measured" if any(r.measured for r in self.nodes) else "cycle model"
            lines.append(f"engine: {self.engine_cycles:,} cycles {kind} (cycle model "
                         f"{self.model_cycles:,}), MAC utilization {100 * self.utilization:.1f}%, "
                         f"{1e3 * self.engine_seconds:.3f} ms at {self.clock_hz / 1e6:g} MHz")
        for o in self.outputs:
            lines.append(f"output {o.name}: max|err| {o.max_abs_err:.3g}, cosine {o.cosine:.6f}"
                         f"{', bit-exact' if o.bit_exact else ''} vs onnxruntime")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()
