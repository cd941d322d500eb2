"""``winnow board-demo``: generate the engine's RTL, build the virtual board, run a model on both devices.

The bundled model is VGG-A at quarter width on 32x32 inputs
(:func:`winnow.models.vgg_a.vgg_a`, seeded, written to ``OUT/vgg_a_small.onnx``):
eight 3x3 convs and a Gemm head, all offloaded. It runs once on ``emu``
(the golden model) and once on ``rtl`` (the Verilated engine, driven
register by register); the demo prints the placement report with measured
cycles and the bit-exactness of every output. The first run builds the
board (a few minutes); later runs take seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnx


def run_demo(out: str | Path = "build/demo", seed: int = 0) -> int:
    from winnow.hls.config import EngineConfig
    from winnow.models.vgg_a import vgg_a
    from winnow.rtl.generate import check_ports, generate

    from .session import Session
    from .vboard.build import build

    out = Path(out)
    cfg = EngineConfig()
    print(f"1. RTL of the default engine ({cfg.pes} PEs, {cfg.multipliers} multipliers) -> {out / 'rtl'}")
    t0 = time.perf_counter()
    paths = generate(cfg, out / "rtl")
    ports = check_ports(out / "rtl")
    print(f"   {len(paths)} files, {len(ports)} ports checked, {time.perf_counter() - t0:.1f} s")
    print("2. Virtual board (Verilator -O3 + C++ harness, cached by content)")
    t0 = time.perf_counter()
    info = build(cfg)
    state = f"built in {info.seconds:.0f} s" if info.built else f"cache hit ({info.key})"
    print(f"   {state}, {time.perf_counter() - t0:.1f} s")
    model = vgg_a(32, classes=10, seed=seed, width=0.25)
    onnx.save(model, out / "vgg_a_small.onnx")
    x = {"x": np.random.default_rng(seed).standard_normal((1, 3, 32, 32)).astype(np.float32)}
    print(f"3. Model {out / 'vgg_a_small.onnx'}: VGG-A at width 1/4, 32x32, seeded input")
    t0 = time.perf_counter()
    emu = Session(model, device="emu", check=False).run(None, x)
    t1 = time.perf_counter()
    sess = Session(model, device="rtl", config=cfg)
    sess.model_name = str(out / "vgg_a_small.onnx")
    rtl = sess.run(None, x)
    t2 = time.perf_counter()
    print(f"   emu {1e3 * (t1 - t0):.0f} ms, rtl {t2 - t1:.1f} s (board open + simulation)\n")
    print(sess.report().table())
    exact = [bool(a.dtype == b.dtype and np.array_equal(a, b))
             for a, b in zip(emu, rtl, strict=True)]
    names = [o.name for o in sess.get_outputs()]
    print()
    for name, ok in zip(names, exact, strict=True):
        print(f"rtl vs emu, output {name}: {'BIT-EXACT' if ok else 'DIFFERENT'}")
    sess.device.close()
    return 0 if all(exact) else 1
