"""The virtual board: the Verilated engine driven register by register, whole models bit-exact.

One board of the default engine is built (or taken from the cache) per test
session; the first build takes a few minutes, later ones are cache hits.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
from test_runtime_models import gnn_like, random_inputs, resnet_like, vgg_like
from test_runtime_quantized import _Reader
from winnow.hls import golden
from winnow.hls.config import EngineConfig
from winnow.hls.regmap import Error
from winnow.models.vgg_a import vgg_a
from winnow.runtime import Session
from winnow.runtime.device import RtlDevice
from winnow.runtime.driver import Driver, WinnowEngineError, WinnowTimeoutError
from winnow.runtime.runs import LayerRunner
from winnow.runtime.vboard.board import VirtualBoard
from winnow.runtime.vboard.build import build

SEED = int(os.environ.get("WINNOW_SEED", "20261127"))
pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def board():
    with VirtualBoard(EngineConfig()) as b:
        yield b


@pytest.fixture(scope="module")
def device(board):
    return RtlDevice(board=board)


def test_second_build_is_a_cache_hit(board):
    lib = board.build.library
    mtime = lib.stat().st_mtime_ns
    again = build(EngineConfig())
    assert not again.built and again.library == lib and lib.stat().st_mtime_ns == mtime


def _fresh_driver(board, **kw):
    board.stall_reads(False)
    board.reset()
    d = Driver(board, board.config, **kw)
    d.check_identity()
    return d, LayerRunner(d, board, board.config)


@pytest.mark.parametrize("shape", [(520, 5, 6, 3), (256, 4, 40, 5), (3, 9, 11, 9), (1, 1, 1, 2)],
                         ids=["chunks", "strips", "small", "tiny"])
def test_conv_runs_bit_exact(board, shape):
    """Channel chunks (C > max_channels) and column strips are split, run, and put together."""
    c, h, w, k = shape
    rng = np.random.default_rng(SEED + c)
    x = rng.integers(0, 256, (2, c, h, w)).astype(np.uint8)
    wt = rng.integers(-128, 128, (k, c, 3, 3)).astype(np.int8)
    zp, pads = np.uint8(rng.integers(0, 256)), (1, 2, 0, 1) if h > 1 else (1, 1, 1, 1)
    _, runner = _fresh_driver(board)
    y, recs = runner.conv(x, runner.load_conv(wt), zp, pads)
    assert np.array_equal(y, golden.conv2d(x, wt, zp, 0, pads)), f"seed {SEED}"
    assert all(abs(r.counters.cycles / r.model_cycles - 1) < 0.1 for r in recs if r.model_cycles > 2000)


def test_gemm_runs_bit_exact(board):
    rng = np.random.default_rng(SEED)
    a = rng.integers(-128, 128, (2, 37, 600)).astype(np.int8)  # batch of 2, Kd > max_channels
    b = rng.integers(-128, 128, (600, 9)).astype(np.int8)
    _, runner = _fresh_driver(board)
    y, recs = runner.gemm(a, b, np.int8(5), np.int8(-3))
    assert np.array_equal(y, golden.gemm(a, b, np.int8(5), np.int8(-3))) and len(recs) == 4


def test_bad_descriptor_is_a_typed_error(board):
    d, _ = _fresh_driver(board)
    with pytest.raises(WinnowEngineError, match="TOO_MANY_CHANNELS") as e:
        d.run({"mode": 0, "c": 4096, "k": 1, "h": 3, "w": 3, "in_pitch": 4096, "out_pitch": 16})
    assert e.value.code is Error.TOO_MANY_CHANNELS


def test_stalled_memory_ends_in_the_watchdog(board):
    """A memory that never returns read data: a typed timeout with the status registers."""
    d, runner = _fresh_driver(board, timeout_cycles=50_000)
    wt = runner.load_conv(np.ones((4, 8, 3, 3), np.int8))
    board.stall_reads(True)
    with pytest.raises(WinnowTimeoutError, match="BUSY=1") as e:
        runner.conv(np.ones((1, 8, 6, 6), np.int8), wt, 0, (1, 1, 1, 1))
    assert e.value.registers["STATUS"] & 1 and e.value.cycles == 50_000
    d, runner = _fresh_driver(board)  # a board reset recovers
    y, _ = runner.conv(np.ones((1, 8, 6, 6), np.int8), runner.load_conv(np.ones((4, 8, 3, 3), np.int8)),
                       0, (1, 1, 1, 1))
    assert y[0, 0, 2, 2] == 72


def _same(model, feeds, device, **kw):
    emu = Session(model, device="emu", check=False, **kw).run(None, feeds)
    sess = Session(model, device=device, check=False, **kw)
    rtl = sess.run(None, feeds)
    for a, b in zip(emu, rtl, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    rep = sess.report()
    assert rep.device == "rtl" and all(r.measured for r in rep.nodes if r.cycles)
    return rep


def test_small_cnns_bit_exact(board):
    device = RtlDevice(board=board)
    _same(vgg_like(seed=3), random_inputs(3, n=2), device)
    rep = _same(resnet_like(seed=4), random_inputs(4, n=2), device)
    assert rep.engine_layers >= 6 and 0 < rep.utilization < 1


def test_trained_digits_cnn_bit_exact(board):
    """The model zoo's trained CNN (sklearn digits), calibrated on its shipped data."""
    root = Path(__file__).resolve().parent.parent / "models"
    data = np.load(root / "data" / "digits_cnn.npz")
    model = onnx.load(root / "onnx" / "digits_cnn.onnx")
    feeds = {model.graph.input[0].name: data["test__x"][:16]}
    calib = {model.graph.input[0].name: data["calib__x"][:64]}
    rep = _same(model, feeds, RtlDevice(board=board), calibration=calib)
    assert rep.engine_layers >= 2


def test_gnn_matmuls_bit_exact(board):
    rng = np.random.default_rng(SEED)
    adj = (rng.random((12, 12)) < 0.3).astype(np.float32)
    adj = adj / np.maximum(adj.sum(1, keepdims=True), 1)  # row-normalized Â
    feeds = {"adj": adj, "h": rng.standard_normal((12, 6)).astype(np.float32)}
    rep = _same(gnn_like(seed=5), feeds, RtlDevice(board=board))
    assert {r.node: r.mode for r in rep.nodes if r.target == "engine"} == {
        "aggregate": "gemm", "dense": "gemm"}


@pytest.mark.parametrize("fmt", [QuantFormat.QDQ, QuantFormat.QOperator], ids=["qdq", "qop"])
def test_onnxruntime_quantized_bit_exact(board, tmp_path, fmt):
    src, dst = tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(resnet_like(seed=1), src)
    quantize_static(src, dst, _Reader(), quant_format=fmt, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    _same(onnx.load(dst), random_inputs(9, n=2), RtlDevice(board=board))


def test_vgg_a_64_bit_exact(board):
    x = {"x": np.random.default_rng(SEED).standard_normal((1, 3, 64, 64)).astype(np.float32)}
    rep = _same(vgg_a(64, classes=10, seed=2), x, RtlDevice(board=board))
    convs = [r for r in rep.nodes if r.op_type == "Conv"]
    assert len(convs) == 8 and all(r.target == "engine" for r in convs)
    # measured cycles within 2% of the cycle model, layer by layer
    assert all(abs(r.cycles / r.model_cycles - 1) < 0.02 for r in convs)


@pytest.mark.slow
def test_trace_of_one_layer(tmp_path):
    """``trace=(node, path)`` writes a VCD of that layer only (builds the trace variant)."""
    path = tmp_path / "conv1.vcd"
    sess = Session(vgg_like(seed=1, size=8), device="rtl", check=False, trace=("conv1", path))
    sess.run(None, random_inputs(1, n=1, size=8))
    text = path.read_text()
    assert "m_axi_arvalid" in text[:4000] and "$enddefinitions" in text
    body = text.split("$enddefinitions", 1)[1]
    assert body.count("\n#") > 1000  # thousands of time steps: the whole layer, not the others


def test_cli_run_on_rtl(tmp_path, capsys):
    from winnow.runtime.cli import main

    path = tmp_path / "m.onnx"
    onnx.save(vgg_like(seed=2, size=8), path)
    rep = tmp_path / "r.json"
    assert main(["run", str(path), "--device", "rtl", "--no-check", "--batch", "1",
                 "--clock-mhz", "100", "--report", str(rep)]) == 0
    out = capsys.readouterr().out
    assert "measured" in out and "at 100 MHz" in out
    import json

    d = json.loads(rep.read_text())
    assert d["device"] == "rtl" and d["summary"]["engine_cycles"] > 0
    assert all(r["measured"] for r in d["nodes"] if r["target"] == "engine")


def test_cli_trace_needs_rtl(tmp_path, capsys):
    from winnow.runtime.cli import main

    path = tmp_path / "m.onnx"
    onnx.save(vgg_like(seed=2, size=8), path)
    assert main(["run", str(path), "--trace", str(tmp_path / "t.vcd")]) == 2
    assert "--trace needs --device rtl" in capsys.readouterr().err
