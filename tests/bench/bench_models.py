"""Benchmark: a whole model through Winnow (3x3 convs on ``emu``) against onnxruntime fp32 alone.

VGG-A as in the Caffe-FPGA paper (VGG-11: conv3-64, pool, conv3-128, pool,
2x conv3-256, pool, 2x conv3-512, pool, 2x conv3-512, pool, FC-4096,
FC-4096, FC-1000) at 224x224, batch 1, seeded random weights (He-scaled),
built with ``onnx.helper``. Winnow runs every 3x3 conv on the ``emu`` device
(the ``hls`` golden model, bit-exact int8 engine arithmetic), static
activation scales from ``--calibrate`` seeded inputs, ``check=False`` (no
fp32 reference runs); the FC layers stay on the host (``--fc engine`` puts
them on the engine too). onnxruntime runs the same fp32 model alone. Both in
this process, one thread each (BLAS and onnxruntime), interleaved
(winnow, ort, winnow, ort, ...), best of ``--repeat``.

Reported (JSON at ``--out``): ``winnow_ms``, ``ort_ms``, ``ratio`` (goal at
most 1.5), ``offloaded_mac_share`` (engine MACs over all conv + FC MACs),
output ``cosine`` against onnxruntime fp32, top-1 agreement, and the per
engine layer cycles of the ``hls`` cycle model. Timing goals are reported,
not asserted.

Usage: ``python tests/bench/bench_models.py [--out build/bench/models.json] [--repeat N]``
"""

from __future__ import annotations

import os

# One thread everywhere, set before numpy (OpenBLAS reads these at load time).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from winnow.models.vgg_a import conv_stack  # noqa: E402

GOAL = 1.5  # target for winnow_ms / ort_ms


def vgg_a(seed: int = 0, size: int = 224, classes: int = 1000,
          fc: int = 4096) -> onnx.ModelProto:
    """VGG-A with the original FC-4096, FC-4096, FC-classes head (the conv stack of
    :func:`winnow.models.vgg_a.conv_stack`), seeded float32 weights, input ``x[1, 3, size, size]``."""
    rng = np.random.default_rng(seed)
    nodes, inits, cur, cin, pools = conv_stack(rng)
    s = size >> pools
    nodes.append(helper.make_node("Flatten", [cur], ["flat"], name="flatten"))
    cur, width = "flat", cin * s * s
    for j, out in enumerate((fc, fc, classes)):
        w = rng.standard_normal((out, width), dtype=np.float32) * np.float32(np.sqrt(2 / width))
        b = rng.standard_normal(out, dtype=np.float32) * np.float32(0.01)
        inits += [numpy_helper.from_array(w, f"fc{j}_w"), numpy_helper.from_array(b, f"fc{j}_b")]
        nodes.append(helper.make_node("Gemm", [cur, f"fc{j}_w", f"fc{j}_b"], [f"fc{j}"], transB=1,
                                      name=f"fc{j}"))
        cur, width = f"fc{j}", out
        if j < 2:
            nodes.append(helper.make_node("Relu", [cur], [f"fcr{j}"], name=f"fc_relu{j}"))
            cur = f"fcr{j}"
    g = helper.make_graph(nodes, "vgg_a", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 3, size, size])], [helper.make_tensor_value_info(
            cur, TensorProto.FLOAT, [1, classes])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(m)
    return m


def model_macs(model: onnx.ModelProto, size: int) -> int:
    """Conv and FC MACs of a VGG-A built by :func:`vgg_a` (batch 1)."""
    inits = {t.name: t for t in model.graph.initializer}
    total, s = 0, size
    for n in model.graph.node:
        if n.op_type == "MaxPool":
            s //= 2
        elif n.op_type in ("Conv", "Gemm"):
            dims = list(inits[n.input[1]].dims)
            total += int(np.prod(dims)) * (s * s if n.op_type == "Conv" else 1)
    return total


def ort_fp32(model: onnx.ModelProto) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _image(seed: int, size: int) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(seed).standard_normal((1, 3, size, size),
                                                             dtype=np.float32)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/bench/models.json"),
                    help="JSON report path (parent folders are created)")
    ap.add_argument("--repeat", type=int, default=5, help="runs per side; best is reported")
    ap.add_argument("--size", type=int, default=224, help="input height = width")
    ap.add_argument("--calibrate", type=int, default=2, help="seeded calibration images")
    ap.add_argument("--fc", choices=("host", "engine"), default="host",
                    help="where the FC (Gemm) layers run")
    ap.add_argument("--profile", type=Path, default=None,
                    help="also write a cProfile of one Winnow run to this file")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.repeat < 1 or args.calibrate < 0:
        ap.error("--repeat must be >= 1 and --calibrate >= 0")

    from winnow.runtime import Session

    model = vgg_a(args.seed, args.size)
    t0 = time.perf_counter()
    calib = [_image(1000 + i, args.size) for i in range(args.calibrate)] or None
    host_nodes = () if args.fc == "engine" else [n.name for n in model.graph.node
                                                  if n.op_type == "Gemm"]
    sess = Session(model, device="emu", calibration=calib, check=False, host_nodes=host_nodes)
    ref_sess = ort_fp32(model)
    setup_s = time.perf_counter() - t0
    feeds = _image(args.seed + 1, args.size)

    def winnow():
        return sess.run(None, feeds)[0]

    def onnxruntime():
        return ref_sess.run(None, feeds)[0]

    y, ref = winnow(), onnxruntime()  # warm-up (weights uploaded, plans and buffers made)
    best = {"winnow": float("inf"), "ort": float("inf")}
    for _ in range(args.repeat):
        for name, fn in (("winnow", winnow), ("ort", onnxruntime)):
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    if args.profile is not None:
        import cProfile
        args.profile.parent.mkdir(parents=True, exist_ok=True)
        cProfile.runctx("winnow()", globals(), {"winnow": winnow}, str(args.profile))

    a, b = y.astype(np.float64).ravel(), ref.astype(np.float64).ravel()
    cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    rep = sess.report()
    engine = [r for r in rep.nodes if r.target == "engine" and r.reason == "offloaded"]
    total_macs = model_macs(model, args.size)
    winnow_ms, ort_ms = best["winnow"] * 1e3, best["ort"] * 1e3
    report = {
        "model": "VGG-A (VGG-11)", "input": [1, 3, args.size, args.size], "device": "emu",
        "fc": args.fc, "winnow_ms": round(winnow_ms, 3), "ort_ms": round(ort_ms, 3),
        "ratio": round(winnow_ms / ort_ms, 3), "goal_ratio": GOAL,
        "offloaded_mac_share": round(rep.engine_macs / total_macs, 4),
        "engine_macs": rep.engine_macs, "total_macs": total_macs,
        "cosine": round(cosine, 6), "max_abs_err": float(np.max(np.abs(a - b))),
        "top1_equal": bool(np.argmax(a) == np.argmax(b)),
        "engine_layers": rep.engine_layers, "engine_regions": rep.engine_regions,
        "host_segments": rep.host_segments, "engine_cycles": rep.engine_cycles,
        "engine_ms_at_200mhz": round(rep.engine_cycles / 200e3, 3),
        "layers": [{"node": r.node, "macs": r.macs, "cycles": r.cycles} for r in engine],
        "calibration_images": args.calibrate, "repeat": args.repeat, "threads": 1,
        "setup_s": round(setup_s, 2), "numpy": np.__version__, "onnxruntime": ort.__version__,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    flag = "" if report["ratio"] <= GOAL else f"  (goal <= {GOAL})"
    print(f"VGG-A {args.size}x{args.size} batch 1: winnow {winnow_ms:.1f} ms, onnxruntime fp32 "
          f"{ort_ms:.1f} ms, ratio {report['ratio']:.2f}{flag}")
    print(f"offloaded {report['offloaded_mac_share']:.1%} of {total_macs / 1e9:.2f} GMACs in "
          f"{rep.engine_layers} engine layers; cosine {cosine:.6f}, top-1 "
          f"{'equal' if report['top1_equal'] else 'DIFFERENT'}; best of {args.repeat}, "
          f"1 thread; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
