"""``winnow run``: random or given inputs, calibration, outputs as .npz, report as JSON."""

import json

import numpy as np
import onnx
from test_runtime_models import resnet_like
from winnow.runtime.cli import main
from winnow.runtime.session import ort_session


def test_run_with_random_inputs_writes_outputs_and_report(tmp_path, capsys):
    model = tmp_path / "m.onnx"
    onnx.save(resnet_like(), model)
    out, rep = tmp_path / "o.npz", tmp_path / "r.json"
    assert main(["run", str(model), "--device", "emu", "--calibrate", "2", "--batch", "3",
                 "--out", str(out), "--report", str(rep), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "random inputs (seed 0): x float32[3, 3, 16, 16]" in text and "stride" in text
    assert np.load(out)["logits"].shape == (3, 10)
    d = json.loads(rep.read_text())
    assert d["summary"]["engine_layers"] == 8 and d["outputs"][0]["cosine"] > 0.999


def test_run_with_given_input_matches_session(tmp_path):
    model = tmp_path / "m.onnx"
    m = resnet_like()
    onnx.save(m, model)
    x = np.random.default_rng(4).integers(0, 256, (2, 3, 16, 16)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "o.npz"
    assert main(["run", str(model), "--input", f"x={tmp_path / 'x.npy'}", "--policy", "host",
                 "--out", str(out), "--no-progress"]) == 0
    assert np.allclose(np.load(out)["logits"], ort_session(m).run(None, {"x": x})[0],
                       rtol=1e-5, atol=1e-5)


def test_run_errors_are_messages(tmp_path, capsys):
    model = tmp_path / "m.onnx"
    onnx.save(resnet_like(), model)
    assert main(["run", str(tmp_path / "none.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["run", str(model), "--input", "x"]) == 2
    assert "NAME=FILE.npy" in capsys.readouterr().err
    np.save(tmp_path / "bad.npy", np.zeros((1, 3, 8, 8), np.float32))
    assert main(["run", str(model), "--input", f"x={tmp_path / 'bad.npy'}"]) == 2
    assert "shape (1, 3, 8, 8)" in capsys.readouterr().err
    assert main(["run", str(model), "--device", "gpu"]) == 2
    assert "unknown device 'gpu'" in capsys.readouterr().err
    assert main(["run", str(model), "--calibrate", "abc"]) == 2
    assert "--calibrate takes" in capsys.readouterr().err
