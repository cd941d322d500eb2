"""Quantized models give onnxruntime's outputs bit for bit, with every eligible layer offloaded."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from test_runtime_models import random_inputs, resnet_like, vgg_like
from winnow.runtime import Session
from winnow.runtime.session import ort_session

_T = {np.dtype(np.int8): TensorProto.INT8, np.dtype(np.uint8): TensorProto.UINT8}


def _one_node(op, x, consts, out_type, **attrs):
    """Model ``op(x, *consts)``; ``consts`` is a list of (name, array|None)."""
    names = ["x"] + [n if a is not None else "" for n, a in consts]
    inits = [numpy_helper.from_array(np.asarray(a), n) for n, a in consts if a is not None]
    g = helper.make_graph([helper.make_node(op, names, ["y"], name="layer", **attrs)], op,
                          [helper.make_tensor_value_info("x", _T[x.dtype], ["N", *x.shape[1:]])],
                          [helper.make_tensor_value_info("y", out_type, [None] * x.ndim)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])


def _check_exact(model, feeds):
    sess = Session(model, check=False)
    assert sess.offloaded() == ["layer"], sess.report().table()
    y, = sess.run(None, feeds)
    ref, = ort_session(model).run(None, feeds)
    assert y.dtype == ref.dtype and np.array_equal(y, ref), f"max diff {np.abs(y - ref).max()}"


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kernel,pads", [(3, (1, 1, 1, 1)), (3, (0, 2, 1, 0)), (1, (0, 0, 0, 0))])
def test_qlinearconv_bit_exact(seed, kernel, pads):
    rng = np.random.default_rng(seed)
    c, k = int(rng.integers(1, 20)), int(rng.integers(1, 20))
    x = rng.integers(0, 256, (2, c, 9, 11)).astype(np.uint8)
    w = rng.integers(-127, 128, (k, c, kernel, kernel)).astype(np.int8)
    per_channel = seed % 2 == 0
    ws = (rng.random(k if per_channel else 1) * 0.01 + 1e-3).astype(np.float32)
    consts = [("xs", np.float32(0.02)), ("xz", np.uint8(rng.integers(0, 256))), ("w", w),
              ("ws", ws if per_channel else ws[0]), ("wz", np.zeros(k if per_channel else (),
                                                                     np.int8)),
              ("ys", np.float32(rng.random() * 0.5 + 0.05)), ("yz", np.uint8(rng.integers(0, 256))),
              ("bias", rng.integers(-5000, 5000, k).astype(np.int32))]
    model = _one_node("QLinearConv", x, consts, TensorProto.UINT8, pads=list(pads),
                      kernel_shape=[kernel, kernel])
    _check_exact(model, {"x": x})


@pytest.mark.parametrize("seed", range(3))
def test_convinteger_bit_exact(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (1, 5, 8, 7)).astype(np.uint8)
    w = rng.integers(0, 256, (6, 5, 3, 3)).astype(np.uint8)
    model = _one_node("ConvInteger", x, [("w", w), ("xz", np.uint8(rng.integers(0, 256))),
                                         ("wz", np.uint8(128))], TensorProto.INT32,
                      pads=[1, 1, 1, 1])
    _check_exact(model, {"x": x})


@pytest.mark.parametrize("seed", range(3))
def test_matmulinteger_and_qlinearmatmul_bit_exact(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (3, 7, 13)).astype(np.uint8)
    b = rng.integers(-128, 128, (13, 5)).astype(np.int8)
    m = _one_node("MatMulInteger", a, [("b", b), ("az", np.uint8(rng.integers(0, 256))),
                                       ("bz", np.int8(3))], TensorProto.INT32)
    _check_exact(m, {"x": a})
    m = _one_node("QLinearMatMul", a, [("as", np.float32(0.03)), ("az", np.uint8(120)),
                                       ("b", b), ("bs", np.float32(0.007)), ("bz", np.int8(0)),
                                       ("ys", np.float32(0.4)), ("yz", np.uint8(100))],
                  TensorProto.UINT8)
    _check_exact(m, {"x": a})


class _Reader(CalibrationDataReader):
    def __init__(self, n=4):
        self._it = iter([random_inputs(50 + i, n=1) for i in range(n)])

    def get_next(self):
        return next(self._it, None)


@pytest.mark.parametrize("fmt", [QuantFormat.QDQ, QuantFormat.QOperator], ids=["qdq", "qop"])
@pytest.mark.parametrize("per_channel", [False, True], ids=["tensor", "channel"])
@pytest.mark.parametrize("build", [resnet_like, vgg_like], ids=["resnet", "vgg"])
def test_quantize_static_models_bit_exact(tmp_path, fmt, per_channel, build):
    src, dst = tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(build(seed=1), src)
    quantize_static(src, dst, _Reader(), quant_format=fmt, per_channel=per_channel,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    model = onnx.load(dst)
    sess = Session(model, check=False)
    rows = {r.node: r for r in sess.report().nodes}
    convs = [n for n in model.graph.node if n.op_type in ("Conv", "QLinearConv")]
    for n in convs:
        strided = any(a.name == "strides" and list(a.ints) != [1, 1] for a in n.attribute)
        assert rows[n.name].target == ("host" if strided else "engine"), rows[n.name]
    x = random_inputs(9, n=6)
    y, = sess.run(None, x)
    ref, = ort_session(model).run(None, x)
    assert np.array_equal(y, ref)
