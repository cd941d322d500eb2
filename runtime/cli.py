"""The ``winnow`` command line."""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
from winnow.hls.config import EngineConfig
from winnow.hls.errors import WinnowError
from winnow.hls.plan import ConvLayer, plan_conv


def _engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pes", type=int, default=EngineConfig.pes, help="Winograd PEs (16 mults each)")
    p.add_argument("--max-channels", type=int, default=EngineConfig.max_channels)


def _config(args) -> EngineConfig:
    return EngineConfig(pes=args.pes, max_channels=args.max_channels)


def _ort_conv_integer(x, w, xz, pads):
    """A one-node onnxruntime ``ConvInteger`` session (single thread) and its feed."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("ConvInteger", ["x", "w", "xz"], ["y"], pads=list(pads))], "conv",
        [helper.make_tensor_value_info("x", TensorProto.INT8, x.shape)],
        [helper.make_tensor_value_info("y", TensorProto.INT32, None)],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.asarray(xz), "xz")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def cmd_demo(args) -> int:
    """Golden model on one conv layer: bit-exactness against onnxruntime, timing, plan."""
    from winnow.hls import golden

    cfg = _config(args)
    c, h, k, seed = args.channels, args.size, args.channels, args.seed
    print(f"Winnow demo: ConvInteger 3x3, {c}ch@{h}x{h} -> {k}ch, int8, pads 1 (seed {seed})")
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (1, c, h, h)).astype(np.int8)
    w = rng.integers(-128, 128, (k, c, 3, 3)).astype(np.int8)
    xz = np.int8(rng.integers(-128, 128))
    pads = (1, 1, 1, 1)
    sess = _ort_conv_integer(x, w, xz, pads)
    t0 = time.perf_counter()
    pw = golden.prepare_weights(w)
    t1 = time.perf_counter()
    y = golden.conv2d_prepared(x, pw, xz, pads)
    t2 = time.perf_counter()
    ref = sess.run(None, {"x": x})[0]
    t3 = time.perf_counter()
    exact = bool(np.array_equal(y, ref))
    print(f"  weight transform (once): {1e3 * (t1 - t0):8.2f} ms")
    print(f"  golden model (emu):      {1e3 * (t2 - t1):8.2f} ms")
    print(f"  onnxruntime ConvInteger: {1e3 * (t3 - t2):8.2f} ms")
    print(f"  bit-exact vs onnxruntime: {'YES' if exact else 'NO'} "
          f"({y.size} int32 outputs, range [{y.min()}, {y.max()}])")
    print(f"\nDatapath widths for {cfg.pes} PEs, up to C={cfg.max_channels} per pass:")
    print("  " + cfg.widths.table().replace("\n", "\n  "))
    plan = plan_conv(ConvLayer(1, c, h, h, k), cfg)
    s = plan.summary()
    print(f"\nPlan on the engine ({cfg.multipliers} multipliers): {s['passes']} passes, "
          f"{s['cycles']} cycles (ideal {s['ideal_cycles']}), utilization "
          f"{100 * s['utilization']:.1f}%, {plan.effective_gops(200e6):.1f} GOPS at 200 MHz")
    return 0 if exact else 1


def cmd_widths(args) -> int:
    cfg = _config(args)
    print(json.dumps(cfg.widths.as_dict(), indent=2) if args.json else cfg.widths.table())
    return 0


def cmd_plan(args) -> int:
    cfg = _config(args)
    pads = tuple(args.pads)
    plan = plan_conv(ConvLayer(args.batch, args.in_channels, args.height, args.width,
                                args.out_channels, pads), cfg)
    print(json.dumps(plan.summary(), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="winnow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="golden model on a conv layer: bit-exactness, timing, plan")
    _engine_args(p)
    p.add_argument("--channels", type=int, default=64)
    p.add_argument("--size", type=int, default=56)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("widths", help="exact datapath widths of an engine configuration")
    _engine_args(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_widths)

    p = sub.add_parser("plan", help="tiling plan and cycle estimate of one conv layer")
    _engine_args(p)
    for name, default in (("batch", 1), ("in-channels", 64), ("height", 56), ("width", 56),
                          ("out-channels", 64)):
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--pads", type=int, nargs=4, default=(1, 1, 1, 1))
    p.set_defaults(func=cmd_plan)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except WinnowError as e:
        print(f"winnow: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
