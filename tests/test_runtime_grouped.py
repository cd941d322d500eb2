"""Grouped convs: split into one engine layer per group when the cycle model says it pays.

Float (quantized on the fly, close to fp32), QLinearConv and QDQ forms
(bit-exact with onnxruntime); depthwise convs stay on the host with the
figures of the decision in their reason.
"""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from winnow.runtime import GraphIndex, Reason, Session, Target, partition
from winnow.runtime.cost import HostCost, group_split
from winnow.runtime.session import ort_session

OPSET = 17


def _grouped_net(seed=0, c=16, size=12):
    """conv(3->c), grouped 3x3 (g=2), depthwise 3x3 (g=c), grouped 1x1 (g=2), conv 3x3."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []

    def conv(name, x, cin, cout, k, g):
        w = (rng.standard_normal((cout, cin // g, k, k)) * np.sqrt(2 / (cin // g * k * k)))
        inits.append(numpy_helper.from_array(w.astype(np.float32), name + "_w"))
        inits.append(numpy_helper.from_array((rng.standard_normal(cout) * 0.1).astype(
            np.float32), name + "_b"))
        nodes.append(helper.make_node("Conv", [x, name + "_w", name + "_b"], [name],
                                      kernel_shape=[k, k], pads=[k // 2] * 4, group=g, name=name))
        nodes.append(helper.make_node("Relu", [name], [name + "_r"], name=name + "_relu"))
        return name + "_r"

    t = conv("stem", "x", 3, c, 3, 1)
    t = conv("grouped", t, c, c, 3, 2)
    t = conv("depthwise", t, c, c, 3, c)
    t = conv("pointwise", t, c, c, 1, 2)
    t = conv("head", t, c, 8, 3, 1)
    g = helper.make_graph(nodes, "grouped", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["N", 3, size, size])], [helper.make_tensor_value_info(
            "head_r", TensorProto.FLOAT, ["N", 8, size, size])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(m)
    return m


def _x(seed, n=2, size=12):
    return {"x": np.random.default_rng(seed).standard_normal((n, 3, size, size)).astype(
        np.float32)}


def _cos(a, b):
    a, b = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_split_rule_alexnet_splits_depthwise_stays():
    alex = group_split(1, 384, 384, 13, 13, 2, False, (1, 1, 1, 1))
    assert alex.pays and alex.engine_s < alex.host_s / 10
    dw = group_split(1, 32, 32, 56, 56, 32, False, (1, 1, 1, 1))
    assert not dw.pays
    mult4 = group_split(1, 32, 128, 56, 56, 32, False, (1, 1, 1, 1))  # channel multiplier 4
    assert mult4.pays
    # A faster host keeps even AlexNet's grouped convs.
    assert not group_split(1, 384, 384, 13, 13, 2, False, (1, 1, 1, 1),
                           host=HostCost(1e12)).pays


def test_placements_say_why_split_or_not():
    rows = {p.name: p for p in partition(GraphIndex.build(_grouped_net()))}
    g = rows["grouped"]
    assert g.target is Target.ENGINE and g.op.groups == 2
    assert "group=2: split, 2 engine layers of 8->8 channels 3x3" in g.detail
    assert rows["pointwise"].target is Target.ENGINE and rows["pointwise"].op.groups == 2
    assert rows["pointwise"].op.conv1x1
    d = rows["depthwise"]
    assert d.target is Target.HOST and d.reason is Reason.GROUPS
    assert "kept on the host" in d.detail and "depthwise" in d.detail and "cycles" in d.detail


def test_alexnet_conv4_shape_is_split():
    w = np.zeros((384, 192, 3, 3), np.float32)
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], group=2, pads=[1] * 4, name="conv4")], "a",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 384, 13, 13])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "w")])
    p, = partition(GraphIndex.build(helper.make_model(
        g, opset_imports=[helper.make_opsetid("", OPSET)])))
    assert p.target is Target.ENGINE and p.op.groups == 2 and "192->192" in p.detail


def test_float_grouped_net_close_to_fp32():
    model = _grouped_net(1)
    sess = Session(model, calibration=[_x(10 + i, 4) for i in range(3)], check=True)
    assert sorted(sess.offloaded()) == ["grouped", "head", "pointwise", "stem"]
    x = _x(3, 8)
    y, = sess.run(None, x)
    ref, = ort_session(model).run(None, x)
    assert _cos(y, ref) >= 0.999
    rows = {r.node: r for r in sess.report().nodes}
    assert rows["grouped"].cosine > 0.999 and rows["grouped"].cycles > 0
    assert rows["grouped"].macs == 8 * 16 * 8 * 9 * 12 * 12  # N * K * C/g * 9 * H * W


def test_float_grouped_integer_data_is_exact():
    """Integer weights and pixels: the grouped layer itself is lossless (EXACT policy)."""
    rng = np.random.default_rng(0)
    w = rng.integers(-20, 21, (6, 2, 3, 3)).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], group=3, pads=[1, 0, 2, 1], name="c")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(w, "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
    # (16x16: at 9x10 the three runs' fixed costs, a 203-cycle descriptor check each, make the
    # host cheaper and the cost rule keeps the layer there)
    x = {"x": rng.integers(0, 256, (2, 6, 16, 16)).astype(np.float32)}
    sess = Session(m, policy="exact", check=False)
    assert sess.offloaded() == ["c"]
    y, = sess.run(None, x)
    assert np.array_equal(y, ort_session(m).run(None, x)[0])
    assert sess.report().nodes[0].host_fallbacks == 0


def _qlinear_grouped(rng, groups, per_channel, kernel=3):
    per = 16 if kernel == 1 else 4  # a 1x1 group needs more channels to pay
    c, k = per * groups, per // 2 * groups
    w = rng.integers(-127, 128, (k, c // groups, kernel, kernel)).astype(np.int8)
    ws = (rng.random(k if per_channel else 1) * 0.01 + 1e-3).astype(np.float32)
    consts = [("xs", np.float32(0.02)), ("xz", np.uint8(rng.integers(0, 256))), ("w", w),
              ("ws", ws if per_channel else ws[0]),
              ("wz", np.zeros(k if per_channel else (), np.int8)),
              ("ys", np.float32(rng.random() * 0.5 + 0.05)), ("yz", np.uint8(rng.integers(0, 256))),
              ("bias", rng.integers(-5000, 5000, k).astype(np.int32))]
    names = ["x"] + [n for n, _ in consts]
    inits = [numpy_helper.from_array(np.asarray(a), n) for n, a in consts]
    g = helper.make_graph(
        [helper.make_node("QLinearConv", names, ["y"], name="layer", group=groups,
                          pads=[kernel // 2] * 4, kernel_shape=[kernel, kernel])], "q",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, ["N", c, 9, 11])],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)]), c


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("groups,kernel", [(2, 3), (3, 3), (4, 1)])
def test_qlinearconv_grouped_bit_exact(seed, groups, kernel):
    rng = np.random.default_rng(seed)
    model, c = _qlinear_grouped(rng, groups, seed % 2 == 0, kernel)
    sess = Session(model, check=False)
    assert sess.offloaded() == ["layer"], sess.report().table()
    x = {"x": rng.integers(0, 256, (2, c, 9, 11)).astype(np.uint8)}
    y, = sess.run(None, x)
    ref, = ort_session(model).run(None, x)
    assert y.dtype == ref.dtype and np.array_equal(y, ref)


def test_convinteger_grouped_bit_exact():
    rng = np.random.default_rng(5)
    w = rng.integers(0, 256, (6, 3, 3, 3)).astype(np.uint8)
    g = helper.make_graph(
        [helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], group=2, pads=[1] * 4,
                          name="layer")], "ci",
        [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 6, 8, 7])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, None)],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.uint8(17), "xz"),
         numpy_helper.from_array(np.uint8(128), "wz")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    x = {"x": rng.integers(0, 256, (1, 6, 8, 7)).astype(np.uint8)}
    sess = Session(m, check=False)
    assert sess.offloaded() == ["layer"]
    assert np.array_equal(sess.run(None, x)[0], ort_session(m).run(None, x)[0])


class _Reader(CalibrationDataReader):
    def __init__(self, n=3):
        self._it = iter([_x(50 + i, 1) for i in range(n)])

    def get_next(self):
        return next(self._it, None)


@pytest.mark.parametrize("fmt", [QuantFormat.QDQ, QuantFormat.QOperator], ids=["qdq", "qop"])
@pytest.mark.parametrize("per_channel", [False, True], ids=["tensor", "channel"])
def test_quantize_static_grouped_bit_exact(tmp_path, fmt, per_channel):
    src, dst = tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(_grouped_net(2), src)
    quantize_static(src, dst, _Reader(), quant_format=fmt, per_channel=per_channel,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    model = onnx.load(dst)
    sess = Session(model, check=False)
    rows = {r.node: r for r in sess.report().nodes}
    for n in model.graph.node:
        if n.op_type in ("Conv", "QLinearConv"):
            want = "host" if n.name.startswith("depthwise") else "engine"
            assert rows[n.name].target == want, rows[n.name]
    x = _x(9, 3)
    y, = sess.run(None, x)
    ref, = ort_session(model).run(None, x)
    assert np.array_equal(y, ref)


def test_host_nodes_keeps_named_layers_on_the_host():
    from winnow.runtime import WinnowModelError

    model = _grouped_net(4)
    sess = Session(model, check=False, host_nodes=["grouped", "head"])
    assert sorted(sess.offloaded()) == ["pointwise", "stem"]
    rows = {r.node: r for r in sess.report().nodes}
    assert rows["grouped"].reason == "policy" and "host_nodes" in rows["grouped"].detail
    x = _x(1)
    assert _cos(sess.run(None, x)[0], ort_session(model).run(None, x)[0]) > 0.999
    with pytest.raises(WinnowModelError, match="nope"):
        Session(model, host_nodes=["nope"])
