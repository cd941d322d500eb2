"""Evaluate the committed zoo models: onnxruntime fp32 and Winnow (``emu``) side by side.

``python -m winnow.models.evaluate [names] [--device emu] [--no-write]`` (or
``winnow models eval``) runs every model of :mod:`.zoo` on its committed
evaluation data, writes ``metrics/<name>.json`` and regenerates
``README.md``. numpy, onnx, onnxruntime and winnow only (no torch).

For each model: the metrics under fp32 and on the engine, whether the primary
metric stays within tolerance, the MACs of every Conv/MatMul/Gemm node
(counted from the shapes of the first split's run) and which of them ran on
the engine, and the reason for each that did not. Float layers are quantized
to int8 with activation scales calibrated on the ``calib`` split.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import onnx

from .zoo import HERE, Spec, specs

_MAC_OPS = ("Conv", "MatMul", "Gemm", "ConvInteger", "MatMulInteger", "QLinearConv",
            "QLinearMatMul")


def _feeds(model: onnx.ModelProto, data, split: str) -> dict[str, np.ndarray]:
    inits = {i.name for i in model.graph.initializer}
    return {i.name: data[f"{split}__{i.name}"] for i in model.graph.input if i.name not in inits}


def _splits(data) -> list[str]:
    return sorted({k.split("__")[0] for k in data if "__" in k} - {"calib"})


def _chunks(feeds: dict[str, np.ndarray], size: int) -> list[dict[str, np.ndarray]]:
    n = len(next(iter(feeds.values())))
    return [{k: v[i:i + size] for k, v in feeds.items()} for i in range(0, n, size)]


def node_macs(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, int]:
    """MACs of every Conv/MatMul/Gemm-like node on ``feeds`` (shapes from an onnxruntime run)."""
    from winnow.runtime.session import ort_session

    m = onnx.ModelProto()
    m.CopyFrom(model)
    known = {o.name for o in m.graph.output} | set(feeds)
    inits = {i.name: i for i in m.graph.initializer}
    want = []
    for n in m.graph.node:
        if n.op_type in _MAC_OPS:
            for t in (n.input[0], n.input[1] if n.op_type != "QLinearConv" else n.input[3],
                      n.output[0]):
                if t not in known and t not in inits and t not in want:
                    want.append(t)
    for t in want:
        m.graph.output.append(onnx.ValueInfoProto(name=t))
    sess = ort_session(m)
    names = [o.name for o in sess.get_outputs()]
    env = dict(zip(names, sess.run(None, feeds), strict=True)) | feeds
    shape = {k: np.shape(v) for k, v in env.items()} | {
        k: tuple(v.dims) for k, v in inits.items()}
    macs = {}
    for i, n in enumerate(m.graph.node):
        if n.op_type not in _MAC_OPS:
            continue
        name = n.name or f"{n.op_type}_{i}"
        y = int(np.prod(shape[n.output[0]]))
        if n.op_type.endswith("Conv") or n.op_type == "ConvInteger":
            w = shape[n.input[3] if n.op_type == "QLinearConv" else n.input[1]]
            macs[name] = y * int(np.prod(w[1:]))
        elif n.op_type == "Gemm":
            trans_a = any(a.name == "transA" and a.i for a in n.attribute)
            a = shape[n.input[0]]
            macs[name] = y * int(a[0] if trans_a else a[1])
        else:
            macs[name] = y * int(shape[n.input[0]][-1])
    return macs


def _round(d: dict) -> dict:
    return {k: round(float(v), 6) for k, v in d.items()}


def evaluate(spec: Spec, device: str = "emu", calib_batch: int = 64) -> dict:
    """Metrics of ``spec`` under fp32 and on ``device``, with placement and MAC shares."""
    from winnow.runtime import Session
    from winnow.runtime.session import ort_session

    model = onnx.load(str(spec.onnx_path))
    data = spec.load_data()
    splits = _splits(data)
    feeds = {s: _feeds(model, data, s) for s in splits}
    calib = _chunks(_feeds(model, data, "calib"), calib_batch)
    out_names = [o.name for o in model.graph.output]
    ref = ort_session(model)
    sess = Session(model, device=device, calibration=calib, check=False)
    fp32, eng = {}, {}
    for s in splits:
        fp32[s] = dict(zip(out_names, ref.run(None, feeds[s]), strict=True))
        eng[s] = dict(zip(out_names, sess.run(None, feeds[s]), strict=True))
    m32, meng = _round(spec.score(fp32, data)), _round(spec.score(eng, data))
    rep = sess.report()
    on_engine = {r.node for r in rep.nodes if r.target == "engine" and r.reason == "offloaded"}
    macs = node_macs(model, feeds[splits[0]])
    total = sum(macs.values())
    eng_macs = sum(v for k, v in macs.items() if k in on_engine)
    host = [{"node": r.node, "op_type": r.op_type, "reason": r.reason, "detail": r.detail}
            for r in rep.nodes if r.op_type in _MAC_OPS and r.target == "host"]
    p = spec.primary
    return {
        "model": spec.name, "title": spec.title, "paper": spec.paper, "data": spec.data,
        "note": spec.note, "onnx": f"onnx/{spec.name}.onnx", "device": device,
        "splits": {s: int(len(next(iter(feeds[s].values())))) for s in splits},
        "metrics": {"fp32": m32, device: meng},
        "primary": {"metric": p, "fp32": m32[p], device: meng[p],
                    "tolerance": "1 point" if spec.kind == "points" else "2% relative",
                    "within_tolerance": spec.within_tolerance(m32[p], meng[p])},
        "macs": {"total": total, "engine": eng_macs,
                 "engine_share": round(eng_macs / total, 6) if total else 0.0,
                 "per_node": macs, "split": splits[0]},
        "engine_nodes": sorted(on_engine), "host_mac_nodes": host,
        "nodes": {"total": len(rep.nodes), "engine_layers": rep.engine_layers,
                  "host_segments": rep.host_segments},
    }


def _fmt(v: float, metric: str) -> str:
    return f"{100 * v:.2f}" if not metric.endswith(("mae", "rmse", "nll")) else f"{v:.4f}"


def readme(results: list[dict]) -> str:
    """The generated ``models/README.md``: one table row per model."""
    lines = [
        "# Winnow model zoo",
        "",
        "Generated by `python -m winnow.models.evaluate` (also `winnow models eval`); do not edit.",
        "Rebuild (train + export, needs the `models` extra) with `make models`.",
        "",
        "Each model runs on onnxruntime fp32 and through Winnow (`emu`: float layers quantized",
        "to int8, per-channel weights, activation scales calibrated on training data).",
        "Accuracy and Recall@K in %; tolerance: 1 point (classification, retrieval) or",
        "2% relative (regression). MACs: Conv/MatMul/Gemm multiply-accumulates on the engine.",
        "",
        "| model | paper | data | metric | fp32 | emu | within tol. | MACs on engine | "
        "host Conv/MatMul |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        p = r["primary"]
        dev = r["device"]
        host = ", ".join(f"{h['node']} ({h['reason']})" for h in r["host_mac_nodes"]) or "none"
        lines.append(
            f"| {r['title']} (`{r['model']}`) | {r['paper']} | {r['data']} | {p['metric']} | "
            f"{_fmt(p['fp32'], p['metric'])} | {_fmt(p[dev], p['metric'])} | "
            f"{'yes' if p['within_tolerance'] else 'NO'} | "
            f"{100 * r['macs']['engine_share']:.1f}% of {r['macs']['total']:,} | {host} |")
    lines += ["", "## All metrics", ""]
    for r in results:
        dev = r["device"]
        lines.append(f"### {r['model']}")
        lines.append("")
        if r["note"]:
            lines.append(r["note"])
            lines.append("")
        lines.append(f"| metric | fp32 | {dev} |")
        lines.append("|---|---|---|")
        for k, v in r["metrics"]["fp32"].items():
            lines.append(f"| {k} | {_fmt(v, k)} | {_fmt(r['metrics'][dev][k], k)} |")
        lines.append("")
    lines += _rotational_section()
    return "\n".join(lines)


def _rotational_section() -> list[str]:
    path = HERE / "metrics" / "rotational_study.json"
    if not path.exists():
        return []
    d = json.loads(path.read_text())
    s = d.pop("settings")
    lines = ["## Rotational equilibrium (training study, `python -m winnow.models.rotational_study`)",
             "", f"AdamW lr {s['lr']}, weight decay {s['weight_decay']}, {s['epochs']} epochs, "
             f"batch {s['batch']}, {s['decay']} decay; warmup {s['warmup']}. Test accuracy (%); "
             "per-layer angular updates in [rotational_study.png](metrics/rotational_study.png).",
             "", "| model | " + " | ".join(next(iter(d.values()))) + " |",
             "|---|" + "---|" * len(next(iter(d.values())))]
    for m, res in d.items():
        lines.append(f"| {m} | " + " | ".join(f"{100 * v['accuracy']:.2f}" for v in res.values())
                     + " |")
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="winnow models eval", description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="zoo models (default: all with an ONNX file)")
    ap.add_argument("--device", default="emu", choices=["emu", "rtl"])
    ap.add_argument("--no-write", action="store_true", help="print only; keep the metrics files")
    args = ap.parse_args(argv)
    results = []
    ok = True
    for spec in specs(args.names):
        r = evaluate(spec, args.device)
        p = r["primary"]
        print(f"{spec.name}: {p['metric']} fp32 {p['fp32']:.4f} {args.device} {p[args.device]:.4f}"
              f" ({'ok' if p['within_tolerance'] else 'OUT OF TOLERANCE'}), "
              f"{100 * r['macs']['engine_share']:.1f}% of MACs on the engine")
        ok &= p["within_tolerance"]
        results.append(r)
        if not args.no_write:
            path = HERE / "metrics" / f"{spec.name}.json"
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps(r, indent=2) + "\n")
    if not args.no_write and not args.names:
        (HERE / "README.md").write_text(readme(results) + "\n")
    elif not args.no_write:
        every = [json.loads(p.read_text()) for p in sorted((HERE / "metrics").glob("*.json"))]
        every = [r for r in every if "model" in r]  # not the rotational study's settings file
        order = [s.name for s in specs()]
        every.sort(key=lambda r: order.index(r["model"]) if r["model"] in order else 99)
        (HERE / "README.md").write_text(readme(every) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
