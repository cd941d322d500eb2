"""ONNX conformance: the Conv/ConvInteger/QLinearConv/MatMul/MatMulInteger/QLinearMatMul/Gemm
node tests of ``onnx.backend.test`` through the Winnow backend, plus Winnow's own int8 3x3 cases
(the standard suite has only three 3x3 stride-1 convs)."""

import re

import numpy as np
import onnx.backend.test
import pytest
from onnx import TensorProto, helper, numpy_helper
from winnow.runtime.backend import WinnowBackend
from winnow.runtime.session import ort_session

OPS = r"^test_(basic_conv|conv_with|convinteger|qlinearconv|matmul|matmulinteger|qlinearmatmul|gemm)"
backend_test = onnx.backend.test.BackendTest(WinnowBackend, __name__)
backend_test.include(OPS + r".*_cpu$")
# Drop the ~4000 unselected cases instead of collecting them as skips (keeps -ra readable).
for _items in backend_test._test_items.values():
    for _name in [n for n in _items if not re.search(OPS + r".*_cpu$", n)]:
        del _items[_name]
globals().update(backend_test.test_cases)

#: Node tests whose engine layer must have run on the engine (not a host fallback).
MUST_OFFLOAD = ["test_basic_conv_with_padding", "test_basic_conv_without_padding",
                "test_convinteger_with_padding", "test_convinteger_without_padding",
                "test_qlinearconv", "test_matmulinteger", "test_qlinearmatmul_2D_uint8_float32",
                "test_qlinearmatmul_3D_uint8_float32", "test_qlinearmatmul_2D_int8_float32",
                "test_qlinearmatmul_3D_int8_float32"]


def test_zz_offload_log():
    """Runs after the generated cases (pytest keeps file order): which ones were offloaded."""
    log = WinnowBackend.offload_log
    if not log:
        pytest.skip("run together with the generated backend test cases")
    offloaded = sorted(name for name, ops in log.items() if ops)
    print("\noffloaded node tests:", ", ".join(offloaded))
    print("host only:", ", ".join(sorted(n for n, ops in log.items() if not ops)))
    missing = [t for t in MUST_OFFLOAD if t in log and not log[t]]
    assert not missing, f"expected on the engine: {missing}"


@pytest.mark.parametrize("seed", range(6))
def test_winnow_int8_3x3_cases(seed):
    """Random 3x3 stride-1 QLinearConv/ConvInteger with odd sizes and asymmetric pads."""
    rng = np.random.default_rng(seed)
    c, k, h, w = (int(v) for v in rng.integers(1, 12, 4) + 2)
    pads = [int(v) for v in rng.integers(0, 3, 4)]
    x = rng.integers(0, 256, (2, c, h, w)).astype(np.uint8)
    wt = rng.integers(-127, 128, (k, c, 3, 3)).astype(np.int8)
    inits = [numpy_helper.from_array(a, n) for n, a in (
        ("xs", np.float32(0.05)), ("xz", np.uint8(rng.integers(0, 256))), ("w", wt),
        ("ws", (rng.random(k) * 0.01 + 1e-3).astype(np.float32)), ("wz", np.zeros(k, np.int8)),
        ("ys", np.float32(1.5)), ("yz", np.uint8(128)))]
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"],
                            pads=pads)
    g = helper.make_graph([node], f"winnow_int8_{seed}",
                          [helper.make_tensor_value_info("x", TensorProto.UINT8, x.shape)],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, [None] * 4)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    rep = WinnowBackend.prepare(m)
    y, = rep.run([x])
    assert rep.offloaded == ["QLinearConv"]
    assert np.array_equal(y, ort_session(m).run(None, {"x": x})[0])
