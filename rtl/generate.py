"""``winnow rtl generate``: the engine's Verilog, register map files and manifest.

Everything written is reproducible byte for byte: no paths, no timestamps,
``emit_src=False``, and the Yosys build that writes the Verilog header is
pinned by the package. The manifest lists the parameters, the datapath
widths and the top-level ports; :func:`check_ports` parses the emitted
Verilog with pyverilog and checks its ports against the manifest.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib import wiring
from winnow.hls import regmap
from winnow.hls.config import EngineConfig
from winnow.hls.errors import WinnowError

from .engine import Engine

TOP = "winnow_engine"
FILES = ("winnow_engine.v", "regmap.json", "winnow_regs.h", "regmap.md", "manifest.json")


class WinnowGenerateError(WinnowError):
    """The emitted Verilog does not match its manifest."""


def _ports(engine: Engine) -> list[dict]:
    """Top-level ports as Amaranth names them in Verilog, with direction and width."""
    ports = [{"name": "clk", "dir": "input", "width": 1}, {"name": "rst", "dir": "input", "width": 1}]
    for path, member, _ in engine.signature.flatten(engine):
        name = "__".join(str(p) for p in path)
        ports.append({"name": name, "dir": "input" if member.flow == wiring.In else "output",
                      "width": Shape.cast(member.shape).width})
    return sorted(ports, key=lambda p: p["name"])


def manifest(cfg: EngineConfig, engine: Engine) -> dict:
    return {
        "top": TOP,
        "parameters": dataclasses.asdict(cfg),
        "multipliers": cfg.multipliers,
        "widths": cfg.widths.as_dict(),
        "register_map_version": regmap.VERSION,
        "ports": _ports(engine),
    }


def generate(cfg: EngineConfig, out: Path) -> dict[str, Path]:
    """Write the files of :data:`FILES` for ``cfg`` into ``out``; returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    engine = Engine(cfg)
    text = verilog.convert(engine, name=TOP, emit_src=False, strip_internal_attrs=True)
    contents = {
        "winnow_engine.v": text,
        "regmap.json": regmap.to_json(),
        "winnow_regs.h": regmap.to_c_header(),
        "regmap.md": regmap.to_markdown(),
        "manifest.json": json.dumps(manifest(cfg, engine), indent=2) + "\n",
    }
    paths = {}
    for name, body in contents.items():
        (out / name).write_text(body)
        paths[name] = out / name
    return paths


def _top_module_text(text: str, top: str) -> str:
    """The top module alone, without Yosys ``(* ... *)`` attributes (pyverilog rejects them)."""
    start = text.index(f"module {top}(")
    end = text.index("endmodule", start) + len("endmodule")
    return re.sub(r"\(\*.*?\*\)", "", text[start:end], flags=re.S)


def parse_ports(text: str, top: str = TOP) -> list[dict]:
    """Ports of ``top`` parsed from Verilog text by pyverilog: name, direction, width."""
    import tempfile

    from pyverilog.vparser.ast import Decl, Input, Output
    from pyverilog.vparser.parser import VerilogParser

    with tempfile.TemporaryDirectory() as tmp:  # the parser writes its tables there
        ast = VerilogParser(outputdir=tmp, debug=False).parse(_top_module_text(text, top))
    module = ast.description.definitions[0]
    ports = []
    for item in module.items:
        if not isinstance(item, Decl):
            continue
        for d in item.list:
            if isinstance(d, (Input, Output)):
                width = 1
                if d.width is not None:
                    width = int(d.width.msb.value) - int(d.width.lsb.value) + 1
                ports.append({"name": d.name, "dir": "input" if isinstance(d, Input) else "output",
                              "width": width})
    return sorted(ports, key=lambda p: p["name"])


def check_ports(folder: Path) -> list[dict]:
    """Parse the generated Verilog and compare its ports with the manifest; raise on mismatch."""
    folder = Path(folder)
    man = json.loads((folder / "manifest.json").read_text())
    parsed = parse_ports((folder / "winnow_engine.v").read_text(), man["top"])
    if parsed != man["ports"]:
        want = {p["name"]: p for p in man["ports"]}
        got = {p["name"]: p for p in parsed}
        diff = sorted(n for n in set(want) | set(got) if want.get(n) != got.get(n))
        raise WinnowGenerateError(
            f"ports of {man['top']} in the Verilog differ from the manifest: "
            + ", ".join(f"{n}: verilog {got.get(n)} manifest {want.get(n)}" for n in diff[:6]))
    return parsed
