"""The committed zoo models: metrics reproduced from the committed ONNX files (numpy-only tier)."""

import json

import numpy as np
import pytest
from winnow.models import evaluate
from winnow.models.zoo import HERE, specs

SPECS = specs()


def _committed(name):
    return json.loads((HERE / "metrics" / f"{name}.json").read_text())


def test_every_committed_model_has_data_and_metrics():
    assert SPECS, "no zoo model has an ONNX file"
    for s in SPECS:
        assert s.data_path.exists(), s.data_path
        assert (HERE / "metrics" / f"{s.name}.json").exists(), s.name
        assert s.onnx_path.stat().st_size < 4 << 20, f"{s.name}: ONNX file over 4 MB"


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_reevaluation_reproduces_committed_metrics(spec):
    got = evaluate.evaluate(spec)
    ref = _committed(spec.name)
    for dev in ("fp32", "emu"):
        for k, v in ref["metrics"][dev].items():
            # one flipped sample in a few hundred is the most BLAS differences may cause
            assert np.isclose(got["metrics"][dev][k], v, rtol=1e-3, atol=3e-3), (spec.name, dev, k)
    assert got["engine_nodes"] == ref["engine_nodes"]
    assert got["macs"]["total"] == ref["macs"]["total"]
    assert got["primary"]["within_tolerance"], got["primary"]
    assert got["host_mac_nodes"] == [], got["host_mac_nodes"]  # every eligible node offloaded


def test_readme_lists_every_model():
    text = (HERE / "README.md").read_text()
    for s in SPECS:
        assert f"`{s.name}`" in text


def test_cli_models_eval_without_writing(capsys):
    from winnow.runtime.cli import main

    assert main(["models", "eval", "digits_cnn", "--no-write"]) == 0
    assert "digits_cnn: accuracy fp32" in capsys.readouterr().out
