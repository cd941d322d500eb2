"""Projected throughput of a network's conv layers on one engine configuration.

Per layer, cycles come from the analytic cycle model
(:func:`winnow.hls.plan.plan_conv`, checked against RTL-measured cycles in
``tests/test_rtl_engine.py``). What is projected on the engine: 3x3,
stride-1, dilation-1 convs with padding 0..2 (the engine's Winograd mode);
a grouped conv runs as one engine layer per group. Every other conv (1x1,
5x5, 7x7, 11x11, strided) is listed with the reason it is not projected;
its MACs count in the network total but not in the engine figure. (The
runtime can also run unpadded 1x1 convs in GEMM mode; this projection, like
the paper's figure, is over 3x3 convolutions.)

Effective GOPS = 2 x direct-convolution MACs / engine seconds: the Winograd
engine does fewer multiplies than that (16 per 4 outputs instead of 36), and
the figure counts the direct convolution's operations, as the paper does.
"""

from __future__ import annotations

from dataclasses import dataclass

from winnow.hls.config import EngineConfig
from winnow.hls.plan import ConvLayer, plan_conv
from winnow.models.benchmarks import Conv


def engine_reason(layer: Conv) -> str:
    """Why ``layer`` is not projected on the engine (``""`` when it is)."""
    kh, kw = layer.kernel
    if (kh, kw) != (3, 3):
        return f"{kh}x{kw} kernel"
    if layer.stride != (1, 1):
        return f"stride {layer.stride[0]}"
    if layer.dilation != (1, 1):
        return f"dilation {layer.dilation[0]}"
    if max(layer.pad) > 2:
        return f"padding {max(layer.pad)} > 2"
    return ""


@dataclass(frozen=True)
class LayerProjection:
    layer: Conv
    reason: str  # "" when projected on the engine
    cycles: int = 0
    mac_active_cycles: int = 0
    ideal_cycles: int = 0
    runs: int = 0

    @property
    def on_engine(self) -> bool:
        return not self.reason

    @property
    def utilization(self) -> float:
        """MAC-active cycles / cycles (what the engine's counters measure), 0..1."""
        return self.mac_active_cycles / self.cycles if self.cycles else 0.0

    def gops(self, clock_hz: float) -> float:
        return 2 * self.layer.macs * clock_hz / self.cycles / 1e9 if self.cycles else 0.0

    def as_dict(self, clock_hz: float) -> dict:
        d = {"name": self.layer.name, "shape": self.layer.shape(), "macs": self.layer.macs,
             "on_engine": self.on_engine}
        if self.on_engine:
            d.update(cycles=self.cycles, ideal_cycles=self.ideal_cycles, runs=self.runs,
                     utilization=round(self.utilization, 4),
                     ms=round(1e3 * self.cycles / clock_hz, 4),
                     gops=round(self.gops(clock_hz), 2))
        else:
            d["not_on_engine"] = self.reason
        return d


def project_layer(layer: Conv, cfg: EngineConfig) -> LayerProjection:
    reason = engine_reason(layer)
    if reason:
        return LayerProjection(layer, reason)
    g = layer.groups
    plan = plan_conv(ConvLayer(layer.n, layer.c // g, layer.h, layer.w, layer.k // g,
                               tuple(layer.pad)), cfg)
    return LayerProjection(layer, "", g * plan.cycles, g * plan.mac_active_cycles,
                           g * plan.ideal_cycles, g * len(plan.passes))


@dataclass(frozen=True)
class Projection:
    """A network's conv layers on ``config`` at ``clock_hz``."""

    name: str
    config: EngineConfig
    clock_hz: float
    layers: tuple[LayerProjection, ...]

    @property
    def engine(self) -> list[LayerProjection]:
        return [p for p in self.layers if p.on_engine]

    @property
    def total_macs(self) -> int:
        return sum(p.layer.macs for p in self.layers)

    @property
    def engine_macs(self) -> int:
        return sum(p.layer.macs for p in self.engine)

    @property
    def engine_cycles(self) -> int:
        return sum(p.cycles for p in self.engine)

    @property
    def coverage(self) -> float:
        """Share of the network's conv MACs that run on the engine, 0..1."""
        return self.engine_macs / self.total_macs if self.total_macs else 0.0

    @property
    def utilization(self) -> float:
        """MAC-active cycles over engine cycles across the engine layers, 0..1."""
        c = self.engine_cycles
        return sum(p.mac_active_cycles for p in self.engine) / c if c else 0.0

    @property
    def ideal_gops(self) -> float:
        """Effective GOPS with every multiplier busy (``utilization`` 1)."""
        ideal = sum(p.ideal_cycles for p in self.engine)
        return 2 * self.engine_macs * self.clock_hz / ideal / 1e9 if ideal else 0.0

    @property
    def effective_gops(self) -> float:
        """Direct-convolution ops (2 per MAC) of the engine layers per engine second, in GOPS."""
        c = self.engine_cycles
        return 2 * self.engine_macs * self.clock_hz / c / 1e9 if c else 0.0

    @property
    def engine_ms(self) -> float:
        return 1e3 * self.engine_cycles / self.clock_hz

    def summary(self) -> dict:
        return {"network": self.name, "clock_mhz": round(self.clock_hz / 1e6, 2),
                "multipliers": self.config.multipliers, "conv_layers": len(self.layers),
                "engine_layers": len(self.engine), "total_gmacs": round(self.total_macs / 1e9, 4),
                "engine_gmacs": round(self.engine_macs / 1e9, 4),
                "coverage": round(self.coverage, 4), "engine_cycles": self.engine_cycles,
                "engine_ms": round(self.engine_ms, 3), "utilization": round(self.utilization, 4),
                "effective_gops": round(self.effective_gops, 2),
                "ideal_gops": round(self.ideal_gops, 2)}

    def as_dict(self) -> dict:
        return {**self.summary(), "layers": [p.as_dict(self.clock_hz) for p in self.layers]}

    def markdown(self) -> str:
        s = self.summary()
        lines = [f"### {self.name}: {s['effective_gops']:.1f} GOPS on its 3x3 convs",
                 "",
                 f"{s['engine_layers']} of {s['conv_layers']} conv layers on the engine, "
                 f"{100 * s['coverage']:.1f}% of {s['total_gmacs']:.3f} GMAC; engine time "
                 f"{s['engine_ms']:.2f} ms at {s['clock_mhz']:.1f} MHz, MAC utilization "
                 f"{100 * s['utilization']:.1f}% (ideal {s['ideal_gops']:.1f} GOPS).",
                 "",
                 "| layer | shape | MMAC | engine cycles | utilization | GOPS | not on engine |",
                 "|---|---|---:|---:|---:|---:|---|"]
        for p in self.layers:
            if p.on_engine:
                lines.append(f"| {p.layer.name} | {p.layer.shape()} | {p.layer.macs / 1e6:.1f} | "
                             f"{p.cycles:,} | {100 * p.utilization:.1f}% | "
                             f"{p.gops(self.clock_hz):.1f} | |")
            else:
                lines.append(f"| {p.layer.name} | {p.layer.shape()} | {p.layer.macs / 1e6:.1f} | "
                             f"| | | {p.reason} |")
        return "\n".join(lines) + "\n"


def project(name: str, layers, cfg: EngineConfig, clock_hz: float) -> Projection:
    """Project ``layers`` (:class:`~winnow.models.benchmarks.Conv`) on ``cfg`` at ``clock_hz``."""
    return Projection(name, cfg, clock_hz, tuple(project_layer(lay, cfg) for lay in layers))


# ------------------------------------------------------------------------------ ONNX

def onnx_convs(model, batch: int = 1) -> list[Conv]:
    """The conv layers (``Conv``, ``ConvInteger``, ``QLinearConv``) of an ONNX model with
    their shapes from shape inference; symbolic dims of the input become ``batch``.
    Convs whose input shape or weights' shape is unknown are skipped."""
    from .graph import GraphIndex, attrs, load_model

    index = GraphIndex.build(load_model(model))
    out = []
    for i, node in enumerate(index.nodes):
        if node.op_type not in ("Conv", "ConvInteger", "QLinearConv") or node.domain not in ("", "ai.onnx"):
            continue
        x, w = (node.input[0], node.input[3]) if node.op_type == "QLinearConv" else node.input[:2]
        xs, ws = index.shape(x), index.shape(w)
        if not xs or not ws or len(xs) != 4 or len(ws) != 4 or not all(isinstance(d, int) for d in ws):
            continue
        n, c, h, wd = (d if isinstance(d, int) else batch for d in xs)
        a = attrs(node)
        kh, kw = ws[2], ws[3]
        stride = tuple(a.get("strides", (1, 1)))
        dil = tuple(a.get("dilations", (1, 1)))
        pads = tuple(int(v) for v in a.get("pads", (0, 0, 0, 0)))
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            pads = _same_pads(h, wd, kh, kw, stride, dil, auto == "SAME_UPPER")
        out.append(Conv(index.node_names[i], c, h, wd, ws[0], (kh, kw), stride, pads,
                        int(a.get("group", 1)), n, dil))
    return out


def _same_pads(h, w, kh, kw, stride, dil, upper: bool) -> tuple[int, int, int, int]:
    lo, hi = [], []
    for size, k, s, d in ((h, kh, stride[0], dil[0]), (w, kw, stride[1], dil[1])):
        total = max(0, (-(-size // s) - 1) * s + d * (k - 1) + 1 - size)
        small, big = total // 2, total - total // 2
        lo.append(small if upper else big)
        hi.append(big if upper else small)
    return (lo[0], lo[1], hi[0], hi[1])
