"""Models exported by PyTorch (tests/data/torch_*.onnx, made by make_torch_models.py).

Residual adds, a concat, a grouped conv, folded BatchNorm, Linear heads,
dynamic batch, two inputs and two outputs: every eligible layer offloaded,
outputs close to onnxruntime fp32. No torch needed here.
"""

from pathlib import Path

import numpy as np
import onnx
import pytest
from winnow.runtime import Session, WinnowInputError
from winnow.runtime.session import ort_session

DATA = Path(__file__).resolve().parent / "data"


def _cos(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _eligible(model):
    """Conv/Gemm/MatMul nodes the engine can take (stride 1); strided convs stay on the host."""
    out = []
    for n in model.graph.node:
        if n.op_type in ("Gemm", "MatMul"):
            out.append(n.name)
        elif n.op_type == "Conv":
            strides = next((list(a.ints) for a in n.attribute if a.name == "strides"), [1, 1])
            if strides == [1, 1]:
                out.append(n.name)
    return out


def _feeds(seed, n, shapes):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal((n, *s)).astype(np.float32) for k, s in shapes.items()}


@pytest.mark.parametrize("calibrated", [True, False], ids=["static", "dynamic"])
@pytest.mark.parametrize("name,shapes", [
    ("torch_rescat.onnx", {"x": (3, 16, 16)}),
    ("torch_two_io.onnx", {"image": (3, 12, 12), "features": (12,)}),
])
def test_torch_exported_models_offload_and_agree_with_fp32(name, shapes, calibrated):
    path = DATA / name
    model = onnx.load(path)
    # Static scales from enough samples to cover the data, or each run's own ranges.
    calib = [_feeds(100 + i, 16, shapes) for i in range(8)] if calibrated else None
    sess = Session(str(path), calibration=calib, check=True)
    eligible = _eligible(model)
    assert len(eligible) >= 5
    assert sorted(sess.offloaded()) == sorted(eligible), sess.report().table()
    ref = ort_session(model)
    for n in (1, 7):  # dynamic batch
        feeds = _feeds(n, n, shapes)
        ys = sess.run(None, feeds)
        rs = ref.run(None, feeds)
        assert len(ys) == len(rs) == len(model.graph.output)
        for y, r in zip(ys, rs, strict=True):
            assert y.shape == r.shape and y.dtype == r.dtype
            assert _cos(y, r) >= 0.999, (name, n, _cos(y, r))
    rep = sess.report()
    assert all(o.cosine >= 0.999 for o in rep.outputs)
    assert rep.engine_regions >= 2


def test_torch_rescat_grouped_conv_split_and_reasons():
    sess = Session(str(DATA / "torch_rescat.onnx"), check=False)
    rows = {r.node: r for r in sess.report().nodes}
    grouped = [p for p in sess.placements if p.op is not None and p.op.groups == 2]
    assert len(grouped) == 1 and "split" in grouped[0].detail
    strided = [r for r in rows.values() if r.op_type == "Conv" and r.target == "host"]
    assert len(strided) == 1 and strided[0].reason == "stride"
    assert any(r.op_type == "Concat" for r in rows.values())
    assert sum(r.op_type == "Add" for r in rows.values()) == 2


def test_torch_two_io_feeds_checked_and_output_subset():
    sess = Session(str(DATA / "torch_two_io.onnx"), check=False)
    feeds = _feeds(0, 3, {"image": (3, 12, 12), "features": (12,)})
    emb, = sess.run(["embedding"], feeds)
    assert emb.shape == (3, 16)
    with pytest.raises(WinnowInputError, match="missing"):
        sess.run(None, {"image": feeds["image"]})
    with pytest.raises(WinnowInputError, match="shape"):
        sess.run(None, {"image": feeds["image"], "features": feeds["features"][:, :5]})
