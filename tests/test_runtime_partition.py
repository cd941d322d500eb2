"""The partitioner's decisions and reasons, and typed errors for bad models, feeds and calibration."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from test_runtime_models import random_inputs, resnet_like
from winnow.runtime import (
    DeviceKind,
    GraphIndex,
    Reason,
    Session,
    Target,
    WinnowCalibrationError,
    WinnowDeviceError,
    WinnowInputError,
    WinnowModelError,
    open_device,
    partition,
)
from winnow.runtime.session import ort_session


def _conv_model(w_shape=(4, 3, 3, 3), x_type=TensorProto.FLOAT, w_const=True, **attrs):
    w = np.random.default_rng(0).standard_normal(w_shape).astype(np.float32)
    inputs = [helper.make_tensor_value_info("x", x_type, [1, w_shape[1] * attrs.get("group", 1),
                                                          10, 10])]
    inits = []
    if w_const:
        inits.append(numpy_helper.from_array(w, "w"))
    else:
        inputs.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, list(w_shape)))
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="c", **attrs)], "g",
                          inputs, [helper.make_tensor_value_info("y", x_type, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _placement(model):
    return partition(GraphIndex.build(model))[0]


@pytest.mark.parametrize("kwargs,reason", [
    (dict(pads=[1, 1, 1, 1]), Reason.OFFLOADED),
    (dict(auto_pad="SAME_UPPER"), Reason.OFFLOADED),
    (dict(w_shape=(4, 3, 1, 1)), Reason.OFFLOADED),
    (dict(w_shape=(4, 3, 5, 5)), Reason.KERNEL),
    (dict(w_shape=(4, 3, 3)), Reason.KERNEL),
    (dict(strides=[2, 2]), Reason.STRIDE),
    (dict(dilations=[2, 2]), Reason.DILATION),
    (dict(w_shape=(4, 1, 3, 3), group=3), Reason.GROUPS),
    (dict(x_type=TensorProto.DOUBLE), Reason.DTYPE),
    (dict(w_const=False), Reason.NON_CONSTANT),
    (dict(pads=[3, 3, 3, 3]), Reason.ATTRIBUTE),
    (dict(w_shape=(4, 3, 1, 1), pads=[1, 1, 1, 1]), Reason.ATTRIBUTE),
])
def test_conv_reasons(kwargs, reason):
    if kwargs.get("w_shape") == (4, 3, 3):
        m = _conv_model(**kwargs)
        m.graph.input[0].CopyFrom(helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                [1, 3, 10]))
    else:
        m = _conv_model(**kwargs)
    p = _placement(m)
    assert p.reason is reason, p.detail
    assert p.target is (Target.ENGINE if reason is Reason.OFFLOADED else Target.HOST)
    assert p.detail


def test_weight_range_and_size_reasons():
    w = np.full((2, 1, 3, 3), 255, np.uint8)  # w - 0 = 255 does not fit the weight transform
    g = helper.make_graph([helper.make_node("ConvInteger", ["x", "w"], ["y"], name="c")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 1, 5, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.INT32, None)],
                          [numpy_helper.from_array(w, "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    assert _placement(m).reason is Reason.WEIGHT_RANGE
    a = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")], "g",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, [4]),
                           helper.make_tensor_value_info("b", TensorProto.FLOAT, [4, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    m = helper.make_model(a, opset_imports=[helper.make_opsetid("", 17)])
    assert _placement(m).reason is Reason.SIZE


def test_unsupported_nodes_fall_back_and_the_run_still_matches():
    m = _conv_model(strides=[2, 2], pads=[1, 1, 1, 1])
    sess = Session(m)
    x = {"x": np.random.default_rng(0).standard_normal((1, 3, 10, 10)).astype(np.float32)}
    y, = sess.run(None, x)
    assert np.array_equal(y, ort_session(m).run(None, x)[0])
    row = sess.report().nodes[0]
    assert row.target == "host" and row.reason == "stride" and "(1, 1)" in row.detail


def test_bad_models_are_typed_errors(tmp_path):
    with pytest.raises(WinnowModelError, match="does not exist"):
        Session(tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(WinnowModelError, match="not a readable ONNX model"):
        Session(bad)
    m = resnet_like()
    m.graph.node[1].input[0] = "nowhere"
    with pytest.raises(WinnowModelError, match="invalid ONNX model"):
        Session(m)
    with pytest.raises(WinnowModelError, match="path, bytes or onnx.ModelProto"):
        Session(42)


def test_bad_feeds_are_typed_errors():
    sess = Session(resnet_like(), check=False)
    x = random_inputs(0)["x"]
    with pytest.raises(WinnowInputError, match=r"missing \['x'\]"):
        sess.run(None, {})
    with pytest.raises(WinnowInputError, match=r"unexpected \['z'\]"):
        sess.run(None, {"x": x, "z": x})
    with pytest.raises(WinnowInputError, match="dtype float64; the model expects float32"):
        sess.run(None, {"x": x.astype(np.float64)})
    with pytest.raises(WinnowInputError, match=r"shape \(4, 3, 8, 8\); the model expects \('N', 3, 16, 16\)"):
        sess.run(None, {"x": x[:, :, :8, :8]})
    with pytest.raises(WinnowInputError, match="unknown outputs"):
        sess.run(["nope"], {"x": x})
    assert sess.run(None, {"x": x[:1]})[0].shape == (1, 10)  # dynamic batch


def test_bad_calibration_is_a_typed_error():
    with pytest.raises(WinnowCalibrationError, match="shape"):
        Session(resnet_like(), calibration=[{"x": np.zeros((1, 3, 8, 8), np.float32)}])
    with pytest.raises(WinnowCalibrationError, match="empty"):
        Session(resnet_like(), calibration=[])
    with pytest.raises(WinnowCalibrationError, match="iterable"):
        Session(resnet_like(), calibration=3)


def test_device_is_chosen_by_enum():
    assert open_device("emu").kind is DeviceKind.EMU
    assert open_device(DeviceKind.EMU).kind is DeviceKind.EMU
    with pytest.raises(WinnowDeviceError, match="unknown device 'gpu'"):
        open_device("gpu")
    with pytest.raises(WinnowDeviceError, match="takes no options"):
        open_device("emu", clock_hz=1e8)  # device options belong to rtl (see test_vboard.py)


def test_qdq_float_op_without_full_pattern_stays_on_host():
    """DQ -> MatMul with no QuantizeLinear after it: onnxruntime's float path is kept."""
    a = np.arange(6, dtype=np.uint8).reshape(2, 3)
    g = helper.make_graph(
        [helper.make_node("DequantizeLinear", ["a", "s", "z"], ["af"], name="dq"),
         helper.make_node("MatMul", ["af", "b"], ["y"], name="mm")], "g",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2])],
        [numpy_helper.from_array(np.float32(0.1), "s"), numpy_helper.from_array(np.uint8(1), "z"),
         numpy_helper.from_array(np.ones((3, 2), np.float32), "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(m)
    sess = Session(m)
    assert {r.node: r.reason for r in sess.report().nodes}["mm"] == "QDQ pattern"
    assert np.array_equal(sess.run(None, {"a": a})[0], ort_session(m).run(None, {"a": a})[0])
