"""PNG plots for the hardware reports (matplotlib, imported only when a plot is drawn)."""

from __future__ import annotations

from pathlib import Path

from winnow.hls.errors import WinnowError

from .projection import Projection


class WinnowPlotError(WinnowError):
    """matplotlib is missing: the report is written without its plots."""


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise WinnowPlotError("matplotlib is not installed (pip install matplotlib): "
                              "plots skipped") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def utilization_bars(projections: dict[str, Projection], path: Path, title: str) -> Path:
    """Per-layer MAC utilization of the engine layers, one bar group per layer and one bar
    per configuration (``projections``: label -> projection of the same network)."""
    plt = _pyplot()
    labels = list(projections)
    first = next(iter(projections.values()))
    names = [p.layer.name for p in first.engine]
    width = 0.8 / max(1, len(labels))
    fig, ax = plt.subplots(figsize=(min(13.0, max(6.0, 0.3 * len(names) * max(1, len(labels)) + 2)), 4))
    for i, label in enumerate(labels):
        util = [100 * p.utilization for p in projections[label].engine]
        ax.bar([j + (i - (len(labels) - 1) / 2) * width for j in range(len(names))], util, width,
               label=label)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("MAC utilization (%)")
    lo = min(100 * p.utilization for pr in projections.values() for p in pr.engine) if names else 0
    ax.set_ylim(max(0, min(90, lo - 5)), 100.5)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    if len(labels) > 1:
        ax.legend(fontsize=8, ncol=min(4, len(labels)))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def gops_vs_resources(points: list[dict], path: Path, network: str, paper_gflops: float,
                      capacity: dict[str, float], part: str) -> Path:
    """GOPS against DSP blocks and against LUT sites, one point per configuration
    (``points``: dicts with ``label``, ``dsp``, ``lut_sites``, ``gops``, ``fits``, ``pareto``)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, xlabel in ((axes[0], "dsp", "DSP blocks"), (axes[1], "lut_sites", "LUT sites")):
        for pt in points:
            style = dict(marker="o" if pt["fits"] else "x", color="C0" if pt["pareto"] else "C7",
                         markersize=8)
            ax.plot(pt[key], pt["gops"], linestyle="none", **style)
            ax.annotate(pt["label"], (pt[key], pt["gops"]), textcoords="offset points",
                        xytext=(5, 4), fontsize=8)
        front = sorted((p for p in points if p["pareto"]), key=lambda p: p[key])
        if front:
            ax.plot([p[key] for p in front], [p["gops"] for p in front], color="C0", alpha=0.5)
        ax.axhline(paper_gflops, color="C3", linestyle="--", linewidth=1)
        ax.text(ax.get_xlim()[0], paper_gflops, f" paper: {paper_gflops:g} GFLOPS (fp32)",
                color="C3", va="bottom", fontsize=8)
        if capacity.get(key):
            ax.axvline(capacity[key], color="C2", linestyle=":", linewidth=1)
            ax.text(capacity[key], ax.get_ylim()[0], f" {part}", color="C2", rotation=90,
                    va="bottom", fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{network} effective GOPS (int8)")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{network}: projected GOPS vs resources (o fits {part}, x does not; "
                 "blue: Pareto front)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
