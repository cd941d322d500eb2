"""Benchmark: the golden model's conv against onnxruntime's float32 ``Conv``, single thread.

For each layer (N=1, K=C, 3x3, pads 1) the golden model runs with weights prepared
once; onnxruntime runs a one-node float32 ``Conv`` with the weights as an
initializer. Both run in this one process, interleaved (emu, ort, emu, ort, ...),
and the best of ``--repeat`` runs is reported. The golden output is also
compared with onnxruntime's int8 ``ConvInteger`` (bit-exactness); the exit
status is non-zero if any layer differs. Timing goals are reported, not asserted.

Usage: ``python tests/bench/bench_conv.py [--out build/bench/conv.json] [--repeat N]``
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
from winnow.hls import golden  # noqa: E402

LAYERS = [(64, 56), (128, 28), (256, 14), (512, 14)]  # (channels, height = width)
PADS = [1, 1, 1, 1]
GOAL = 1.5  # target for emu_ms / ort_float_ms


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


def _conv_model(op: str, x_shape, w: np.ndarray, x_type: int, out_type: int) -> onnx.ModelProto:
    """One ``Conv`` / ``ConvInteger`` node with ``w`` as an initializer."""
    x_vi = helper.make_tensor_value_info("x", x_type, list(x_shape))
    y_vi = helper.make_tensor_value_info("y", out_type, None)
    node = helper.make_node(op, ["x", "w"], ["y"], kernel_shape=[3, 3], pads=PADS,
                            strides=[1, 1], dilations=[1, 1], group=1)
    graph = helper.make_graph([node], op.lower(), [x_vi], [y_vi],
                              initializer=[numpy_helper.from_array(w, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


def bench_layer(c: int, hw: int, repeat: int, rng: np.random.Generator) -> dict:
    x = rng.integers(-128, 128, size=(1, c, hw, hw), dtype=np.int8)
    w = rng.integers(-128, 128, size=(c, c, 3, 3), dtype=np.int8)

    pw = golden.prepare_weights(w)
    float_sess = _session(_conv_model("Conv", x.shape, w.astype(np.float32),
                                      TensorProto.FLOAT, TensorProto.FLOAT))
    int_sess = _session(_conv_model("ConvInteger", x.shape, w,
                                    TensorProto.INT8, TensorProto.INT32))
    xf = x.astype(np.float32)

    def emu():
        return golden.conv2d_prepared(x, pw, pads=PADS)

    def ort_float():
        return float_sess.run(None, {"x": xf})[0]

    y_emu = emu()  # warm-up, and the result to check
    ort_float()
    y_int = int_sess.run(None, {"x": x})[0]
    bit_exact = bool(y_emu.dtype == y_int.dtype and y_emu.shape == y_int.shape
                     and np.array_equal(y_emu, y_int))

    best = {"emu": float("inf"), "ort": float("inf")}
    for _ in range(repeat):
        for name, fn in (("emu", emu), ("ort", ort_float)):
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    emu_ms, ort_ms = best["emu"] * 1e3, best["ort"] * 1e3
    wino = golden.choose_wino(c, c, 1, hw, hw) if pw.auto else pw.wino
    return {"layer": f"{c}ch@{hw}x{hw}", "emu_ms": round(emu_ms, 4),
            "ort_float_ms": round(ort_ms, 4), "ratio": round(emu_ms / ort_ms, 3),
            "bit_exact": bit_exact, "emu_algorithm": f"F({wino.m}x{wino.m},3x3)"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("build/bench/conv.json"),
                    help="JSON report path (parent folders are created)")
    ap.add_argument("--repeat", type=int, default=20, help="runs per side; best is reported")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")

    rng = np.random.default_rng(args.seed)
    layers = [bench_layer(c, hw, args.repeat, rng) for c, hw in LAYERS]
    report = {"layers": layers, "threads": 1, "numpy": np.__version__,
              "onnxruntime": ort.__version__,
              "repeat": args.repeat, "goal_ratio": GOAL}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")

    print(f"{'layer':<12} {'emu_ms':>9} {'ort_float_ms':>13} {'ratio':>7}  bit_exact  emu_algorithm")
    for r in layers:
        flag = "" if r["ratio"] <= GOAL else f"  (> {GOAL})"
        print(f"{r['layer']:<12} {r['emu_ms']:>9.3f} {r['ort_float_ms']:>13.3f} "
              f"{r['ratio']:>7.2f}  {r['bit_exact']!s:<9}  {r['emu_algorithm']}{flag}")
    print(f"threads=1 numpy={np.__version__} onnxruntime={ort.__version__} "
          f"best of {args.repeat}; wrote {args.out}")
    bad = [r["layer"] for r in layers if not r["bit_exact"]]
    if bad:
        print(f"NOT bit-exact: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
