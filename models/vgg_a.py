"""VGG model A (Simonyan & Zisserman, 11 weight layers) as an ONNX graph with seeded weights.

The eight 3x3 pad-1 convolutions (64, M, 128, M, 256, 256, M, 512, 512, M,
512, 512, M) are VGG-A's, at any input size divisible by 32. The classifier
is a global average pool and one ``Gemm`` to ``classes`` outputs instead of
the original FC-4096, FC-4096, FC-1000: those three layers hold 123M
parameters, which in GEMM mode at batch 1 would cost more engine time than
all the convolutions (one row of A per 16-row tile) and several GB of
lane-repeated weights. Every conv MAC of VGG-A is here, unchanged.

Weights are He-initialized from ``seed``; the model computes in float32 and
the runtime quantizes the offloaded layers.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: Output channels of the 3x3 convs; "M" is a 2x2 max pool.
CONFIG_A = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


def conv_stack(rng: np.random.Generator, width: float = 1.0
               ) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], str, int, int]:
    """VGG-A's convolutions (He-initialized from ``rng``, channels scaled by ``width``) and
    pools from input ``x``: ``(nodes, initializers, output name, output channels, pools)``."""
    nodes, inits = [], []
    cur, cin, i, pools = "x", 3, 0, 0
    for v in CONFIG_A:
        if v == "M":
            nodes.append(helper.make_node("MaxPool", [cur], [f"pool{i}"], kernel_shape=[2, 2],
                                          strides=[2, 2], name=f"pool{i}"))
            cur, pools = f"pool{i}", pools + 1
            continue
        cout = max(1, round(v * width))
        i += 1
        w = (rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2 / (9 * cin))).astype(np.float32)
        b = (rng.standard_normal(cout) * 0.05).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"conv{i}_w"), numpy_helper.from_array(b, f"conv{i}_b")]
        nodes.append(helper.make_node("Conv", [cur, f"conv{i}_w", f"conv{i}_b"], [f"conv{i}"],
                                      kernel_shape=[3, 3], pads=[1, 1, 1, 1], name=f"conv{i}"))
        nodes.append(helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"], name=f"relu{i}"))
        cur, cin = f"relu{i}", cout
    return nodes, inits, cur, cin, pools


def vgg_a(size: int = 224, classes: int = 1000, seed: int = 0, width: float = 1.0,
          opset: int = 17) -> onnx.ModelProto:
    """VGG-A on ``[N, 3, size, size]`` float32 input ``x`` -> ``logits [N, classes]``.

    ``width`` scales every conv's channel count (1.0: the real network).
    """
    if size % 32:
        raise ValueError(f"size must be a multiple of 32 (five 2x2 pools), not {size}")
    rng = np.random.default_rng(seed)
    nodes, inits, cur, cin, _ = conv_stack(rng, width)
    nodes.append(helper.make_node("GlobalAveragePool", [cur], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"))
    w = (rng.standard_normal((classes, cin)) * np.sqrt(1 / cin)).astype(np.float32)
    inits += [numpy_helper.from_array(w, "fc_w"),
              numpy_helper.from_array(np.zeros(classes, np.float32), "fc_b")]
    nodes.append(helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1,
                                  name="fc"))
    g = helper.make_graph(
        nodes, "vgg_a", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(m)
    return m
