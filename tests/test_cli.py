"""The command line: demo succeeds, bad parameters give a clear error and exit code 2."""

import json

from winnow.runtime.cli import main


def test_demo_small(capsys):
    assert main(["demo", "--channels", "8", "--size", "9"]) == 0
    out = capsys.readouterr().out
    assert "bit-exact vs onnxruntime: YES" in out and "utilization" in out


def test_widths_json(capsys):
    assert main(["widths", "--max-channels", "1024", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["stages"]["acc"]["bits"] == 32


def test_bad_parameter_is_a_message_not_a_traceback(capsys):
    assert main(["plan", "--in-channels", "0"]) == 2
    assert "conv layer c must be a positive integer, not 0" in capsys.readouterr().err
    assert main(["widths", "--pes", "0"]) == 2
