"""When splitting a grouped conv onto the engine pays: the ``hls`` cycle model vs a host cost.

A ``Conv`` with ``group = g > 1`` is ``g`` independent convs of ``C/g -> K/g``
channels. The engine can run each as its own layer (one weight upload and one
run per group, outputs written side by side, which is the concatenation);
whether that is worth it depends on how well ``C/g -> K/g`` fills the engine:
a PE computes one output channel and takes one input channel per cycle, so a
depthwise group (``C/g = 1``) keeps one PE of ``pes`` busy for one cycle per
tile and the fixed costs of a run (descriptor check, memory latency, weight
fetch, pipeline tail) are paid ``g`` times.

The rule (:func:`group_split`):

* engine time = the sum over the groups of :func:`winnow.hls.plan.plan_conv`
  (or ``plan_gemm`` for 1x1 groups) cycles, at ``clock_hz`` (200 MHz);
* host time = the layer's direct MACs / ``HostCost.macs_per_s`` (the host the
  engine is attached to running the whole grouped conv itself);
* split when engine time <= host time; otherwise the node stays on the host
  with reason ``groups`` and both figures in the detail.

``HostCost.macs_per_s`` defaults to 2 GMAC/s. It is an assumption about the
deployment host (an embedded CPU next to the FPGA, running grouped and
depthwise convs at memory-bound rates), not a measurement of this machine: a
2-core x86 running onnxruntime single-threaded did 13-19 GMAC/s on depthwise
3x3 convs and 37-88 GMAC/s on grouped ones (measured), and would keep every
conv, grouped or not, for itself. With the default 4-PE engine the rule gives:

* AlexNet conv4 (384 -> 384 at 13x13, g=2): engine 0.91 Mcycles = 4.5 ms vs
  host 56 ms: split;
* ResNeXt-like g=4..8 with 8..48 channels per group: engine ~28 GMAC/s: split;
* depthwise (``C/g = K/g = 1``) at 14x14..56x56: engine 1.0-1.6 GMAC/s, below
  the host's 2 GMAC/s: host. A channel multiplier of 4 (``K/g = 4``) fills the
  four PEs and pays.

When the spatial size is not known from the model (dynamic H/W), the rule is
evaluated at ``NOMINAL_HW`` (the engine's rate barely depends on it).
"""

from __future__ import annotations

from dataclasses import dataclass

from winnow.hls.config import EngineConfig
from winnow.hls.plan import ConvLayer, GemmLayer, plan_conv, plan_gemm

NOMINAL_HW = 32  #: spatial size assumed for the rule when H or W is unknown
CLOCK_HZ = 200e6  #: engine clock for converting cycles to time


@dataclass(frozen=True)
class HostCost:
    """A simple host cost: a sustained MAC rate for the conv layers it keeps."""

    macs_per_s: float = 2e9

    def seconds(self, macs: int) -> float:
        return macs / self.macs_per_s


@dataclass(frozen=True)
class GroupSplit:
    """The decision for one grouped conv, with the figures that made it."""

    groups: int
    pays: bool
    engine_cycles: int
    engine_s: float
    host_s: float
    macs: int
    assumed_hw: bool  # H/W unknown: evaluated at NOMINAL_HW
    host_macs_per_s: float = HostCost.macs_per_s

    def explain(self, c: int, k: int, kernel: str) -> str:
        verdict = "split" if self.pays else "kept on the host"
        cmp = "<=" if self.pays else ">"
        size = f" (H, W unknown: {NOMINAL_HW}x{NOMINAL_HW} assumed)" if self.assumed_hw else ""
        return (f"group={self.groups}: {verdict}, {self.groups} engine layers of "
                f"{c // self.groups}->{k // self.groups} channels {kernel}; engine "
                f"{self.engine_cycles:,} cycles = {self.engine_s * 1e3:.3g} ms at "
                f"{CLOCK_HZ / 1e6:.0f} MHz {cmp} host {self.host_s * 1e3:.3g} ms at "
                f"{self.host_macs_per_s / 1e9:.3g} GMAC/s{size}")


def group_split(n: int | None, c: int, k: int, h: int | None, w: int | None, groups: int,
                conv1x1: bool, pads: tuple[int, int, int, int],
                config: EngineConfig | None = None, host: HostCost | None = None) -> GroupSplit:
    """Whether ``groups`` engine layers of ``c/groups -> k/groups`` beat the host (see above)."""
    config = config or EngineConfig()
    host = host or HostCost()
    assumed = not (isinstance(h, int) and isinstance(w, int))
    if assumed:
        h = w = NOMINAL_HW
    n = n if isinstance(n, int) and n > 0 else 1
    cg, kg = c // groups, k // groups
    if conv1x1:
        per = plan_gemm(GemmLayer(n * h * w, cg, kg), config).cycles
        macs = n * h * w * c * kg
    else:
        layer = ConvLayer(n, cg, h, w, kg, tuple(pads))
        per = plan_conv(layer, config).cycles
        macs = groups * layer.macs
    cycles = groups * per
    engine_s = cycles / CLOCK_HZ
    host_s = host.seconds(macs)
    return GroupSplit(groups, engine_s <= host_s, cycles, engine_s, host_s, macs, assumed,
                      host.macs_per_s)
