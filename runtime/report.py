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
    runs: int = 0
    host_fallbacks: int = 0  # runs in which the layer ran on the host instead (exact policy)
    range_source: str = ""  # float layers: lossless / calibration / dynamic
    max_abs_err: float | None = None  # float layers vs the fp32 node on the same inputs
    cosine: float | None = None


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

    @property
    def engine_macs(self) -> int:
        return sum(r.macs for r in self.nodes if r.target == "engine")

    @property
    def engine_cycles(self) -> int:
        return sum(r.cycles for r in self.nodes if r.target == "engine")

    def offloaded(self) -> list[str]:
        """Names of the nodes computed as engine layers (fused Q/DQ nodes excluded)."""
        return [r.node for r in self.nodes if r.target == "engine" and r.reason == "offloaded"]

    def as_dict(self) -> dict:
        d = asdict(self)
        d["summary"] = {"engine_layers": self.engine_layers, "engine_regions": self.engine_regions,
                        "host_segments": self.host_segments, "engine_macs": self.engine_macs,
                        "engine_cycles": self.engine_cycles, "runs": self.runs}
        return d

    def save(self, path: str | os.PathLike) -> None:
        with open(path, "w") as f:
            json.dump(self.as_dict(), f, indent=2)
            f.write("\n")

    def table(self) -> str:
        head = ("node", "op", "where", "why", "MACs", "cycles", "max|err|", "cosine")
        rows = [head]
        for r in self.nodes:
            why = r.reason if r.target == "engine" else f"{r.reason}: {r.detail}"
            if r.host_fallbacks:
                why += f" ({r.host_fallbacks} host fallbacks)"
            rows.append((r.node, r.op_type, r.target, why[:70], f"{r.macs:,}" if r.macs else "",
                         f"{r.cycles:,}" if r.cycles else "",
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
        for o in self.outputs:
            lines.append(f"output {o.name}: max|err| {o.max_abs_err:.3g}, cosine {o.cosine:.6f}"
                         f"{', bit-exact' if o.bit_exact else ''} vs onnxruntime")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()
