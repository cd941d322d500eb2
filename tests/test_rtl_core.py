"""The engine core in the Amaranth simulator, against the golden model (fast, small layers).

The whole engine (register file, AXI master, core) runs in cocotb + Verilator in
test_rtl_engine.py; this tier exercises the core alone with a memory model on
its client ports, including the PE counts the Verilator tests do not build.
"""

import numpy as np
import pytest
from core_sim import run_core
from engine_cases import conv_case, gemm_case, random_case
from winnow.hls.config import EngineConfig

SEED = 4242


@pytest.mark.parametrize("pes", [1, 2, 16])
def test_random_layers_any_pe_count(pes):
    cfg = EngineConfig(pes=pes, max_channels=16, line_buffer_bytes=16 * 1024)
    rng = np.random.default_rng(SEED + pes)
    cases = [random_case(cfg, rng) for _ in range(4 if pes < 16 else 2)]
    cases.append(gemm_case(cfg, rng, 20, 5, pes + 1, True))
    for i, case in enumerate(cases):
        mem, res = run_core(cfg, case.mem.copy(), case.desc, seed=SEED + i)
        assert res["done"] and res["error"] == 0, (case.name, res)
        got = case.output(mem)
        assert np.array_equal(got, case.expected), f"{case.name} (seed {SEED + pes}) differs"
        assert res["mac"] > 0 and res["cycles"] >= res["mac"]


def test_slow_memory_does_not_change_results():
    cfg = EngineConfig(pes=2, max_channels=16, line_buffer_bytes=16 * 1024)
    case = conv_case(cfg, np.random.default_rng(SEED), 5, 6, 7, 3, (1, 2, 0, 1), True)
    mem, res = run_core(cfg, case.mem.copy(), case.desc, latency=17, seed=SEED)
    assert np.array_equal(case.output(mem), case.expected) and res["stall"] > 0
