"""Virtual-board benchmark: Verilator speed of an engine, and VGG-A 224x224 end to end on ``rtl``.

Writes ``build/bench/rtl.json``:

* ``build``: the board library's cache key, build time, Verilator version;
Wall times depend on what else the machine runs (the load average is
recorded); CPU seconds of this process are recorded beside them.

* ``simulator``: clock cycles per second of wall time while the engine runs
  a 64ch@56x56 -> 64 conv (busy, bit-exact against the golden model);
* ``vgg_a``: VGG-A (:mod:`winnow.models.vgg_a`) at 224x224, batch 1, float
  model quantized on the fly: wall time of ``Session.run`` on ``rtl``, engine
  cycles measured by the engine's counters beside the cycle model, MAC
  utilization over the eight 3x3 layers and per layer, simulated time at
  200 MHz. Outputs are compared with ``emu`` (bit-exact) unless ``--no-emu``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np


def simulator_speed(board) -> dict:
    from winnow.hls import golden
    from winnow.runtime.driver import Driver
    from winnow.runtime.runs import LayerRunner

    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (1, 64, 56, 56)).astype(np.int8)
    w = rng.integers(-128, 128, (64, 64, 3, 3)).astype(np.int8)
    driver = Driver(board, board.config)
    runner = LayerRunner(driver, board, board.config)
    handle = runner.load_conv(w)
    c0, t0, p0 = board.cycle, time.perf_counter(), time.process_time()
    y, recs = runner.conv(x, handle, np.int8(3), (1, 1, 1, 1))
    dt, cycles, cpu = time.perf_counter() - t0, board.cycle - c0, time.process_time() - p0
    assert np.array_equal(y, golden.conv2d(x, w, np.int8(3), 0, (1, 1, 1, 1)))
    return {"layer": "conv 64ch@56x56 -> 64, pads 1", "cycles": cycles, "seconds": round(dt, 3),
            "cycles_per_second": round(cycles / dt), "cpu_seconds": round(cpu, 3),
            "cycles_per_cpu_second": round(cycles / cpu),
            "utilization": recs[0].counters.utilization}


def _row(r) -> dict:
    return {"node": r.node, "cycles": r.cycles, "model_cycles": r.model_cycles,
            "mac_cycles": r.mac_cycles, "utilization": round(r.utilization, 4),
            "runs": r.engine_runs}


def vgg_a_run(config, emu: bool) -> dict:
    from winnow.models.vgg_a import vgg_a
    from winnow.runtime import Session

    model = vgg_a(224, seed=0)
    x = {"x": np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)}
    t0 = time.perf_counter()
    sess = Session(model, device="rtl", config=config, check=False)
    t1, p1 = time.perf_counter(), time.process_time()
    y = sess.run(None, x)
    t2, p2 = time.perf_counter(), time.process_time()
    rep = sess.report()
    convs = [r for r in rep.nodes if r.op_type == "Conv" and r.target == "engine"]
    cyc, mac = sum(r.cycles for r in convs), sum(r.mac_cycles for r in convs)
    out = {
        "model": "VGG-A 224x224 batch 1 (8 3x3 convs; GAP + FC-1000 head)",
        "open_seconds": round(t1 - t0, 2), "run_seconds": round(t2 - t1, 2),
        "run_cpu_seconds": round(p2 - p1, 2),
        "engine_cycles": rep.engine_cycles, "model_cycles": rep.model_cycles,
        "conv3x3_cycles": cyc, "conv3x3_mac_cycles": mac,
        "conv3x3_utilization": round(mac / cyc, 4),
        "simulated_ms_at_200MHz": round(1e3 * rep.engine_cycles / 200e6, 3),
        "simulated_cycles_per_wall_second": round(rep.engine_cycles / (t2 - t1)),
        # the eight 3x3 layers in order (what the hardware report compares layer by layer)
        "layers": [_row(r) for r in convs],
        "other_layers": [_row(r) for r in rep.nodes
                         if r.target == "engine" and r.cycles and r not in convs],
    }
    if emu:
        t3 = time.perf_counter()
        ref = Session(model, device="emu", config=config, check=False).run(None, x)
        out["emu_seconds"] = round(time.perf_counter() - t3, 2)
        out["bit_exact_vs_emu"] = all(np.array_equal(a, b) for a, b in zip(y, ref, strict=True))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="build/bench/rtl.json")
    p.add_argument("--no-emu", action="store_true", help="skip the emu comparison of VGG-A")
    args = p.parse_args()
    from winnow.hls.config import EngineConfig
    from winnow.runtime.vboard.board import VirtualBoard

    cfg = EngineConfig()
    t0 = time.perf_counter()
    with VirtualBoard(cfg) as board:
        res = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "load_average": list(os.getloadavg())},
               "config": {"pes": cfg.pes, "multipliers": cfg.multipliers,
                          "bus_bytes": cfg.bus_bytes, "mem_latency": cfg.mem_latency},
               "build": {**board.build.as_dict(), "open_seconds": round(time.perf_counter() - t0, 2)}}
        res["build"].pop("library")
        res["simulator"] = simulator_speed(board)
    print(json.dumps(res["simulator"]))
    res["vgg_a"] = vgg_a_run(cfg, emu=not args.no_emu)
    print(json.dumps({k: v for k, v in res["vgg_a"].items() if k != "layers"}))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if res["vgg_a"].get("bit_exact_vs_emu", True) else 1


if __name__ == "__main__":
    raise SystemExit(main())
