"""Small ONNX models built with onnx.helper for the runtime tests (seeded), and their sanity checks.

The builders live here (imported by the other ``test_runtime_*`` files) so every
runtime test uses the same graphs: a VGG-like chain, a ResNet-like net with
residual adds, a strided conv, a 1x1 branch, a concat and a MatMul head, and
a two-input/two-output graph with a MatMul of two activations.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def _conv(name, x, cin, cout, k, rng, pads=1, stride=1):
    w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2 / (cin * k * k))).astype(np.float32)
    b = (rng.standard_normal(cout) * 0.1).astype(np.float32)
    inits = [numpy_helper.from_array(w, name + "_w"), numpy_helper.from_array(b, name + "_b")]
    node = helper.make_node("Conv", [x, name + "_w", name + "_b"], [name], kernel_shape=[k, k],
                            pads=[pads] * 4, strides=[stride] * 2, name=name)
    return [node], inits


def _model(nodes, inits, inputs, outputs, name):
    g = helper.make_graph(nodes, name, inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(m)
    return m


def resnet_like(seed: int = 0, ch: int = 8, classes: int = 10, size: int = 16) -> onnx.ModelProto:
    """stem, two residual blocks (adds), a strided conv (host), 1x1 + 3x3 branches, concat, head."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []

    def add(n, i):
        nodes.extend(n)
        inits.extend(i)

    add(*_conv("stem", "x", 3, ch, 3, rng))
    nodes.append(helper.make_node("Relu", ["stem"], ["r0"], name="relu0"))
    cur = "r0"
    for b in range(2):
        add(*_conv(f"b{b}c1", cur, ch, ch, 3, rng))
        nodes.append(helper.make_node("Relu", [f"b{b}c1"], [f"b{b}r1"], name=f"b{b}relu1"))
        add(*_conv(f"b{b}c2", f"b{b}r1", ch, ch, 3, rng))
        nodes.append(helper.make_node("Add", [f"b{b}c2", cur], [f"b{b}add"], name=f"b{b}add"))
        nodes.append(helper.make_node("Relu", [f"b{b}add"], [f"b{b}out"], name=f"b{b}relu2"))
        cur = f"b{b}out"
    add(*_conv("down", cur, ch, 2 * ch, 3, rng, stride=2))
    nodes.append(helper.make_node("Relu", ["down"], ["dr"], name="relu_down"))
    add(*_conv("br1", "dr", 2 * ch, ch, 1, rng, pads=0))
    add(*_conv("br3", "dr", 2 * ch, ch, 3, rng))
    nodes.append(helper.make_node("Concat", ["br1", "br3"], ["cat"], axis=1, name="concat"))
    nodes.append(helper.make_node("Relu", ["cat"], ["catr"], name="relu_cat"))
    nodes.append(helper.make_node("GlobalAveragePool", ["catr"], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"))
    w = (rng.standard_normal((2 * ch, classes)) * 0.5).astype(np.float32)
    inits.append(numpy_helper.from_array(w, "fc_w"))
    nodes.append(helper.make_node("MatMul", ["flat", "fc_w"], ["logits"], name="fc"))
    return _model(nodes, inits,
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, size, size])],
                  [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])],
                  "resnet_like")


def vgg_like(seed: int = 0, widths=(8, 16, 16), classes: int = 10, size: int = 16):
    """VGG-A-like: 3x3 conv + ReLU stages separated by max pooling, then a Gemm head."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    cur, cin, s = "x", 3, size
    for i, cout in enumerate(widths):
        n, ini = _conv(f"conv{i}", cur, cin, cout, 3, rng)
        nodes += n
        inits += ini
        nodes.append(helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"], name=f"relu{i}"))
        nodes.append(helper.make_node("MaxPool", [f"relu{i}"], [f"pool{i}"], kernel_shape=[2, 2],
                                      strides=[2, 2], name=f"pool{i}"))
        cur, cin, s = f"pool{i}", cout, s // 2
    nodes.append(helper.make_node("Flatten", [cur], ["flat"], name="flatten"))
    w = (rng.standard_normal((classes, cin * s * s)) * np.sqrt(1 / (cin * s * s))).astype(
        np.float32)
    b = (rng.standard_normal(classes) * 0.1).astype(np.float32)
    inits += [numpy_helper.from_array(w, "fc_w"), numpy_helper.from_array(b, "fc_b")]
    nodes.append(helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1,
                                  name="fc"))
    return _model(nodes, inits,
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, size, size])],
                  [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])],
                  "vgg_like")


def gnn_like(seed: int = 0, nodes_n: int = 12, feat: int = 6, hidden: int = 8):
    """Two inputs (adjacency, features), two outputs; ``A @ H`` is a MatMul of two activations."""
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((feat, hidden)) * 0.5).astype(np.float32)
    inits = [numpy_helper.from_array(w1, "w1")]
    nodes = [helper.make_node("MatMul", ["adj", "h"], ["ah"], name="aggregate"),
             helper.make_node("MatMul", ["ah", "w1"], ["z"], name="dense"),
             helper.make_node("Relu", ["z"], ["emb"], name="relu"),
             helper.make_node("ReduceMean", ["emb"], ["pooled"], keepdims=0, axes=[0],
                              name="pool")]
    g = helper.make_graph(
        nodes, "gnn_like",
        [helper.make_tensor_value_info("adj", TensorProto.FLOAT, [nodes_n, nodes_n]),
         helper.make_tensor_value_info("h", TensorProto.FLOAT, [nodes_n, feat])],
        [helper.make_tensor_value_info("emb", TensorProto.FLOAT, [nodes_n, hidden]),
         helper.make_tensor_value_info("pooled", TensorProto.FLOAT, [hidden])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(m)
    return m


def random_inputs(seed: int, n: int = 4, size: int = 16) -> dict[str, np.ndarray]:
    return {"x": np.random.default_rng(seed).standard_normal((n, 3, size, size)).astype(
        np.float32)}


def test_builders_make_valid_models():
    for m in (resnet_like(), vgg_like(), gnn_like()):
        onnx.checker.check_model(m, full_check=True)
