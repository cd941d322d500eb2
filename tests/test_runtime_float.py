"""Float CNNs with residual adds and a concat: every eligible conv on the engine, close to fp32."""

import numpy as np
import pytest
from test_runtime_models import gnn_like, random_inputs, resnet_like, vgg_like
from winnow.runtime import FloatPolicy, Session
from winnow.runtime.session import ort_session


def _cos(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("build", [resnet_like, vgg_like], ids=["resnet", "vgg"])
def test_float_cnn_offloads_every_eligible_conv_and_agrees_with_fp32(build):
    model = build(seed=3)
    calib = [random_inputs(100 + i, n=8) for i in range(4)]
    sess = Session(model, device="emu", calibration=calib, check=False)
    convs = [n.name for n in model.graph.node if n.op_type in ("Conv", "MatMul", "Gemm")]
    eligible = [c for c in convs if c != "down"]  # the strided conv stays on the host
    assert sorted(sess.offloaded()) == sorted(eligible)
    x = random_inputs(7, n=200)  # 200 seeded images in one batch (dynamic batch)
    y, = sess.run(None, x)
    ref, = ort_session(model).run(None, x)
    assert _cos(y, ref) >= 0.999
    agree = np.mean(np.argmax(y, 1) == np.argmax(ref, 1))
    assert agree >= 0.99, f"top-1 agreement {agree:.3f}"
    rep = sess.report()
    assert rep.engine_regions >= 2 and rep.host_segments >= 2


def test_resnet_report_has_per_layer_error_cycles_and_reasons(tmp_path):
    sess = Session(resnet_like(), device="emu")  # no calibration: dynamic ranges
    sess.run(None, random_inputs(1))
    rep = sess.report()
    rows = {r.node: r for r in rep.nodes}
    assert rows["down"].target == "host" and rows["down"].reason == "stride"
    assert rows["b0add"].reason == "op type"
    for name in ("stem", "b0c1", "br1", "br3", "fc"):
        r = rows[name]
        assert r.target == "engine" and r.macs > 0 and r.cycles > 0
        assert r.cosine > 0.999 and r.max_abs_err < 0.5 and r.range_source == "dynamic"
    assert rows["br1"].mode == "gemm" and rows["stem"].mode == "conv"
    assert rep.outputs[0].cosine > 0.999
    text = str(rep)
    assert "stride" in text and "engine layers" in text
    path = tmp_path / "r.json"
    rep.save(path)
    import json
    d = json.loads(path.read_text())
    assert d["summary"]["engine_layers"] == 8 and d["nodes"][0]["node"] == "stem"


def test_two_inputs_two_outputs_matmul_of_activations():
    model = gnn_like()
    rng = np.random.default_rng(0)
    adj = (rng.random((12, 12)) < 0.3).astype(np.float32)
    adj = adj / adj.sum(1, keepdims=True).clip(1)
    feeds = {"adj": adj, "h": rng.standard_normal((12, 6)).astype(np.float32)}
    sess = Session(model)
    assert sorted(sess.offloaded()) == ["aggregate", "dense"]
    emb, pooled = sess.run(None, feeds)
    ref = ort_session(model).run(None, feeds)
    assert _cos(emb, ref[0]) > 0.999 and _cos(pooled, ref[1]) > 0.999
    only, = sess.run(["pooled"], feeds)
    assert only.shape == (8,)


def test_exact_policy_is_lossless_on_integer_data():
    model = resnet_like()
    x = {"x": np.random.default_rng(0).integers(0, 256, (2, 3, 16, 16)).astype(np.float32)}
    sess = Session(model, policy=FloatPolicy.EXACT)
    sess.run(None, x)
    rows = {r.node: r for r in sess.report().nodes}
    assert rows["stem"].target == "host" and rows["stem"].reason == "lossy"  # random weights
    host = Session(model, policy="host")
    assert host.offloaded() == []
    y, = host.run(None, x)
    assert np.allclose(y, ort_session(model).run(None, x)[0], rtol=1e-5, atol=1e-5)
