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


def _random_feed(infos, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    """Seeded random inputs of each input's dtype and shape (symbolic dims -> ``batch``)."""
    from winnow.runtime.errors import WinnowInputError

    feeds = {}
    for t in infos:
        if t.dtype is None or t.shape is None:
            raise WinnowInputError(f"input {t.name!r} has no declared dtype/shape; give it with "
                                   f"--input {t.name}=FILE.npy")
        shape = tuple(d if isinstance(d, int) else batch for d in t.shape)
        if t.dtype.kind == "f":
            a = rng.standard_normal(shape).astype(t.dtype)
        elif t.dtype.kind in "iu" and t.dtype.itemsize == 1:
            info = np.iinfo(t.dtype)
            a = rng.integers(info.min, info.max + 1, shape).astype(t.dtype)
        elif t.dtype.kind in "iu":
            a = rng.integers(0, 10, shape).astype(t.dtype)
        else:
            a = rng.integers(0, 2, shape).astype(t.dtype)
        feeds[t.name] = a
    return feeds


def _load_inputs(specs: list[str]) -> dict[str, np.ndarray]:
    from winnow.runtime.errors import WinnowInputError

    feeds = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise WinnowInputError(f"--input must be NAME=FILE.npy, not {spec!r}")
        try:
            feeds[name] = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise WinnowInputError(f"cannot read input {name!r} from {path!r}: {e}") from e
    return feeds


def _calibration(arg: str | None, infos, seed: int, batch: int):
    """``--calibrate``: a directory of ``.npz`` feed files, or N seeded random feeds."""
    import os

    from winnow.runtime.errors import WinnowCalibrationError

    if arg is None:
        return None
    if os.path.isdir(arg):
        files = sorted(f for f in os.listdir(arg) if f.endswith(".npz"))
        if not files:
            raise WinnowCalibrationError(f"calibration directory {arg!r} has no .npz files")
        return [dict(np.load(os.path.join(arg, f), allow_pickle=False)) for f in files]
    try:
        n = int(arg)
    except ValueError:
        raise WinnowCalibrationError(
            f"--calibrate takes a directory of .npz feeds or a count, not {arg!r}") from None
    if n < 1:
        raise WinnowCalibrationError(f"--calibrate count must be >= 1, not {n}")
    rng = np.random.default_rng(seed + 1)
    return [_random_feed(infos, rng, batch) for _ in range(n)]


def cmd_run(args) -> int:
    """Run a model with the engine's layers on a device; save outputs and the report."""
    from winnow.runtime import Session
    from winnow.runtime.graph import load_model

    model = load_model(args.model)
    options, trace = _device_options(args, model)
    sess = Session(model, device=args.device, config=_config(args), policy=args.policy,
                   check=not args.no_check, device_options=options, trace=trace)
    sess.model_name = args.model
    infos = sess.get_inputs()
    cal = _calibration(args.calibrate, infos, args.seed, args.batch)
    if cal is not None:
        sess.calibrate(tqdm_iter(cal, "calibrating", args.progress))
    given = _load_inputs(args.input)
    missing = [t for t in infos if t.name not in given]
    feeds = dict(given)
    if missing:
        feeds.update(_random_feed(missing, np.random.default_rng(args.seed), args.batch))
        print(f"random inputs (seed {args.seed}): " + ", ".join(
            f"{t.name} {feeds[t.name].dtype}{list(feeds[t.name].shape)}" for t in missing))
    t0 = time.perf_counter()
    outs = sess.run(None, feeds, progress=args.progress)
    dt = time.perf_counter() - t0
    rep = sess.report()
    print(rep.table())
    print(f"run time {dt * 1e3:.1f} ms")
    if args.out:
        np.savez(args.out, **dict(zip([o.name for o in sess.get_outputs()], outs, strict=True)))
    if args.report:
        rep.save(args.report)
    return 0


def _device_options(args, model) -> tuple[dict, tuple | None]:
    """``--device rtl`` options (clock, memory latency) and the ``--trace`` target."""
    from winnow.runtime.device import DeviceKind
    from winnow.runtime.errors import WinnowInputError

    kind = DeviceKind.parse(args.device)
    options = {}
    if kind is DeviceKind.RTL:
        options["clock_hz"] = args.clock_mhz * 1e6
        if args.read_latency is not None:
            options["read_latency"] = args.read_latency
    if not args.trace:
        return options, None
    if kind is not DeviceKind.RTL:
        raise WinnowInputError("--trace needs --device rtl (waveforms come from the virtual board)")
    layer = args.trace_layer
    if layer is None:  # the first engine layer
        from winnow.runtime.graph import GraphIndex
        from winnow.runtime.partition import Target, partition

        index = GraphIndex.build(model)
        firsts = [p.name for p in partition(index) if p.target is Target.ENGINE
                  and p.op is not None and p.op.node == p.index]
        if not firsts:
            raise WinnowInputError("--trace: the model has no engine layer")
        layer = firsts[0]
    print(f"tracing engine layer {layer!r} to {args.trace} (VCD)")
    return options, (layer, args.trace)


def tqdm_iter(items, desc: str, enabled: bool | None):
    from tqdm import tqdm

    return tqdm(items, desc=desc, disable=(None if enabled is None else not enabled),
                leave=False)


def cmd_rtl_generate(args) -> int:
    """Verilog, register map (JSON, C header, Markdown) and manifest of one engine build."""
    from pathlib import Path

    from winnow.rtl.generate import check_ports, generate

    cfg = EngineConfig(pes=args.pes, max_channels=args.max_channels, bus_bytes=args.bus_bytes,
                       line_buffer_bytes=args.line_kib * 1024)
    out = Path(args.out)
    paths = generate(cfg, out)
    ports = check_ports(out)
    for path in paths.values():
        print(f"  {path}  ({path.stat().st_size} bytes)")
    print(f"{cfg.pes} PEs, {cfg.multipliers} multipliers; {len(ports)} top-level ports checked "
          "against the manifest (pyverilog)")
    return 0


def _engine_build_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bus-bytes", type=int, default=EngineConfig.bus_bytes)
    p.add_argument("--line-kib", type=int, default=EngineConfig.line_buffer_bytes // 1024)


def _hw_args(p: argparse.ArgumentParser) -> None:
    from winnow.rtl.synth import PLACER, PLACERS, ROUTER, ROUTERS

    p.add_argument("--freq", type=float, default=150.0,
                   help="nextpnr clock target in MHz (ECP5; the achieved clock is reported)")
    p.add_argument("--no-pnr", action="store_true", help="synthesis only, no place and route")
    p.add_argument("--speed", type=int, choices=(6, 7, 8), default=6,
                   help="ECP5 speed grade for place and route (6 is the slowest)")
    p.add_argument("--placer", choices=PLACERS, default=PLACER, help="nextpnr placer")
    p.add_argument("--router", choices=ROUTERS, default=ROUTER, help="nextpnr router")
    p.add_argument("--place-only", action="store_true",
                   help="nextpnr placement only: a post-placement clock estimate, no routing")
    p.add_argument("--clock-mhz", type=float,
                   help="project throughput at this clock instead of the achieved one")
    p.add_argument("--jobs", type=int, default=2, help="tool runs in parallel")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per tool run")


def cmd_rtl_report(args) -> int:
    """Synthesis, place and route and projected throughput of one engine build."""
    from pathlib import Path

    from winnow.models.benchmarks import NETWORKS
    from winnow.rtl.synth import Target
    from winnow.runtime.hwreport import build_report, write_report

    cfg = EngineConfig(pes=args.pes, max_channels=args.max_channels, bus_bytes=args.bus_bytes,
                       line_buffer_bytes=args.line_kib * 1024)
    targets = list(dict.fromkeys(Target(t) for t in args.target))
    out = Path(args.out)
    rep = build_report(cfg, out, targets, freq_mhz=args.freq, pnr=not args.no_pnr,
                       clock_mhz=args.clock_mhz, networks=args.network or tuple(NETWORKS),
                       onnx_models=args.onnx, jobs=args.jobs,
                       measured=args.measured or ("build/sim/perf_paper.json", "build/bench/rtl.json"),
                       timeout=args.timeout, force=args.force, speed=args.speed,
                       router=args.router, placer=args.placer,
                       place_only=args.place_only)
    paths = write_report(rep, out, plot_network=args.plot_network)
    for path in paths:
        print(f"  {path}")
    for name, proj in rep.projections.items():
        s = proj.summary()
        print(f"{name}: {s['effective_gops']:.1f} GOPS at {s['clock_mhz']:.1f} MHz "
              f"({rep.clock_source}), utilization {100 * s['utilization']:.1f}%, "
              f"{100 * s['coverage']:.1f}% of conv MACs on the engine")
    return 0


def cmd_dse(args) -> int:
    """Sweep engine configurations: resources, clock, projected GOPS, Pareto table and plots."""
    from itertools import product
    from pathlib import Path

    from winnow.rtl.synth import Target
    from winnow.runtime import dse

    configs = [EngineConfig(pes=p, max_channels=args.max_channels, bus_bytes=args.bus_bytes,
                            line_buffer_bytes=lk * 1024)
               for p, lk in product(args.pes, args.line_kib)]
    target = Target(args.target)
    points, paths = dse.run(configs, Path(args.out), target=target, network=args.network,
                            jobs=args.jobs, pnr=not args.no_pnr, freq_mhz=args.freq,
                            clock_mhz=args.clock_mhz, timeout=args.timeout, speed=args.speed,
                            router=args.router, placer=args.placer,
                            place_only=args.place_only)
    for path in paths:
        print(f"  {path}")
    best = dse.largest_fitting(points)
    if best:
        print(f"largest fitting {best.config.pes} PEs: {args.network} {best.gops:.1f} GOPS at "
              f"{best.clock_hz / 1e6:.1f} MHz")
    else:
        print("no configuration fits the part")
    return 0 if best else 3


def build_parser() -> argparse.ArgumentParser:
    from winnow.models.benchmarks import NETWORKS as NETWORK_NAMES

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

    p = sub.add_parser("run", help="run an ONNX model with the engine's layers offloaded")
    _engine_args(p)
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--device", default="emu", help="emu (golden model) or rtl (virtual board)")
    p.add_argument("--clock-mhz", type=float, default=200.0,
                   help="rtl: engine clock for simulated time in the report")
    p.add_argument("--read-latency", type=int, default=None,
                   help="rtl: memory read latency in cycles (default: the config's mem_latency)")
    p.add_argument("--trace", metavar="FILE.vcd", help="rtl: waveform of one engine layer")
    p.add_argument("--trace-layer", metavar="NODE",
                   help="node to trace (default: the first engine layer)")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                   help="an input array; inputs not given are seeded random")
    p.add_argument("--calibrate", metavar="DIR|N",
                   help="static float ranges from a directory of .npz feeds or N random feeds")
    p.add_argument("--policy", default="quantize", choices=["quantize", "exact", "host"],
                   help="float Conv/MatMul/Gemm: quantize on the engine, only when lossless, "
                        "or never")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=1, help="size of symbolic dims of random inputs")
    p.add_argument("--out", help="outputs as .npz")
    p.add_argument("--report", help="placement/error report as JSON")
    p.add_argument("--no-check", action="store_true",
                   help="skip the fp32 comparison (faster on large models)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: when writing to a terminal)")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("board-demo", help="generate the RTL, run a bundled model on emu and rtl, "
                                          "check bit-exactness")
    p.add_argument("--out", default="build/demo", help="folder for the RTL and the model")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_board_demo)
    rtl = sub.add_parser("rtl", help="generate the engine's RTL").add_subparsers(
        dest="rtl_command", required=True)
    p = rtl.add_parser("generate", help="Verilog, register map files and manifest")
    _engine_args(p)
    p.add_argument("--bus-bytes", type=int, default=EngineConfig.bus_bytes)
    p.add_argument("--line-kib", type=int, default=EngineConfig.line_buffer_bytes // 1024)
    p.add_argument("--out", required=True, help="output folder (created)")
    p.set_defaults(func=cmd_rtl_generate)

    p = rtl.add_parser("report", help="synthesis (Yosys), place and route (nextpnr-ecp5) and "
                       "projected throughput of the paper's networks")
    _engine_args(p)
    _engine_build_args(p)
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--target", nargs="+", default=["ecp5"], choices=["ecp5", "xilinx7", "ice40"])
    _hw_args(p)
    p.add_argument("--network", action="append", choices=sorted(NETWORK_NAMES),
                   help="project this network (default: all four of the paper's)")
    p.add_argument("--onnx", action="append", default=[], metavar="MODEL.onnx",
                   help="also project an ONNX model's conv layers")
    p.add_argument("--measured", action="append",
                   help="virtual-board measurements to compare with the projection, when the file "
                        "exists (default: build/sim/perf_paper.json and build/bench/rtl.json)")
    p.add_argument("--plot-network", default="vgg-a", help="network of the utilization plot")
    p.add_argument("--force", action="store_true",
                   help="synthesize even when the multipliers alone exceed the part's DSPs")
    p.set_defaults(func=cmd_rtl_report)

    p = sub.add_parser("dse", help="design-space sweep: resources, clock and projected GOPS "
                       "per configuration, Pareto table and plots")
    p.add_argument("--pes", type=int, nargs="+", default=[2, 4, 6, 8, 9])
    p.add_argument("--line-kib", type=int, nargs="+", default=[EngineConfig.line_buffer_bytes // 1024])
    p.add_argument("--max-channels", type=int, default=EngineConfig.max_channels)
    p.add_argument("--bus-bytes", type=int, default=EngineConfig.bus_bytes)
    p.add_argument("--target", default="ecp5", choices=["ecp5", "xilinx7", "ice40"])
    p.add_argument("--network", default="vgg-a", choices=sorted(NETWORK_NAMES))
    p.add_argument("--out", required=True, help="output folder (created)")
    _hw_args(p)
    p.set_defaults(func=cmd_dse)

    p = sub.add_parser("models", help="model zoo: evaluate the committed ONNX models, fp32 vs engine")
    p.add_argument("action", choices=["eval"])
    p.add_argument("args", nargs=argparse.REMAINDER, help="passed to python -m winnow.models.evaluate")
    p.set_defaults(func=_models)
    return parser


def _models(args) -> int:
    from winnow.models.evaluate import main as evaluate  # models sit above runtime: import late

    return evaluate(args.args)


def _board_demo(args) -> int:
    from winnow.runtime.board_demo import run_demo

    return run_demo(args.out, seed=args.seed)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except WinnowError as e:
        print(f"winnow: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
