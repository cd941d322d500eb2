"""golden == direct integer convolution == onnxruntime ConvInteger, exactly."""

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from onnx_ref import run_node  # noqa: E402
from winnow.hls import golden  # noqa: E402
from winnow.hls.errors import WinnowOverflowError, WinnowParameterError  # noqa: E402


def direct_conv(x, w, xz, wz, pads):
    """Direct int64 ConvInteger (the definition)."""
    d = x.astype(np.int64) - int(xz)
    g = w.astype(np.int64) - np.asarray(wz, dtype=np.int64).reshape(-1, 1, 1, 1)
    pt, pl, pb, pr = pads
    d = np.pad(d, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    ho, wo = d.shape[2] - 2, d.shape[3] - 2
    y = np.zeros((x.shape[0], w.shape[0], ho, wo), dtype=np.int64)
    for a in range(3):
        for b in range(3):
            y += np.einsum("nchw,kc->nkhw", d[:, :, a:a + ho, b:b + wo], g[:, :, a, b])
    return y


@st.composite
def conv_cases(draw, max_c=8):
    dt = draw(st.sampled_from([np.int8, np.uint8]))
    info = np.iinfo(dt)
    n = draw(st.integers(1, 2))
    c = draw(st.integers(1, max_c))
    k = draw(st.integers(1, 5))
    pads = tuple(draw(st.lists(st.integers(0, 2), min_size=4, max_size=4)))
    h = draw(st.integers(max(1, 3 - pads[0] - pads[2]), 9))
    w = draw(st.integers(max(1, 3 - pads[1] - pads[3]), 9))
    seed = draw(st.integers(0, 2**32 - 1))
    extreme = draw(st.sampled_from(["random", "min", "max", "mixed"]))
    rng = np.random.default_rng(seed)
    if extreme == "random":
        x = rng.integers(info.min, info.max + 1, (n, c, h, w))
        wt = rng.integers(-128, 128, (k, c, 3, 3))
    elif extreme == "mixed":
        x = rng.choice([info.min, info.max], (n, c, h, w))
        wt = rng.choice([-128, 127], (k, c, 3, 3))
    else:
        v = info.min if extreme == "min" else info.max
        x = np.full((n, c, h, w), v)
        wt = np.full((k, c, 3, 3), -128 if extreme == "min" else 127)
    xz = draw(st.sampled_from([0, info.min, info.max, int(rng.integers(info.min, info.max + 1))]))
    return x.astype(dt), wt.astype(np.int8), dt(xz), pads


@given(conv_cases())
def test_golden_equals_direct_and_onnxruntime(case):
    x, w, xz, pads = case
    y = golden.conv2d(x, w, xz, 0, pads)
    assert y.dtype == np.int32
    ref = direct_conv(x, w, xz, 0, pads)
    np.testing.assert_array_equal(y, ref)
    ort = run_node("ConvInteger", {"x": x, "w": w, "x_zero_point": np.asarray(xz)},
                   pads=list(pads))
    np.testing.assert_array_equal(y, ort)


def test_large_c_near_width_limit():
    """C large enough that the worst case nearly fills int32 (the analysis limit)."""
    c = golden.INT32_MAX // (9 * 255 * 128)  # 7310 channels of the worst case
    x = np.full((1, c, 3, 4), -128, dtype=np.int8)
    w = np.full((2, c, 3, 3), 127, dtype=np.int8)
    y = golden.conv2d(x, w, np.int8(127), 0, (0, 0, 0, 0))
    assert y.min() == -c * 9 * 255 * 127
    np.testing.assert_array_equal(y, direct_conv(x, w, 127, 0, (0, 0, 0, 0)))
    with pytest.raises(WinnowOverflowError, match="beyond int32"):
        golden.conv2d(np.zeros((1, c + 1, 3, 3), np.int8),
                      np.full((1, c + 1, 3, 3), -128, np.int8), np.int8(127), 0)


def test_per_channel_weight_zero_point():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (1, 3, 6, 5)).astype(np.uint8)
    w = rng.integers(0, 256, (4, 3, 3, 3)).astype(np.uint8)
    wz = np.array([128, 120, 130, 128], dtype=np.uint8)
    zc = wz.astype(int)[:, None, None, None]
    w = np.clip(w.astype(int), zc - 128, np.minimum(zc + 127, 255)).astype(np.uint8)
    y = golden.conv2d(x, w, np.uint8(7), wz, (1, 0, 2, 1))
    np.testing.assert_array_equal(y, direct_conv(x, w, 7, wz, (1, 0, 2, 1)))


def test_prepared_weights_are_reused():
    rng = np.random.default_rng(4)
    w = rng.integers(-128, 128, (3, 2, 3, 3)).astype(np.int8)
    pw = golden.prepare_weights(w)
    for _ in range(3):
        x = rng.integers(-128, 128, (1, 2, 5, 7)).astype(np.int8)
        np.testing.assert_array_equal(golden.conv2d_prepared(x, pw, np.int8(0), (1, 1, 1, 1)),
                                      direct_conv(x, w, 0, 0, (1, 1, 1, 1)))


@given(st.integers(1, 40), st.integers(1, 70), st.integers(1, 9),
       st.sampled_from([np.int8, np.uint8]), st.integers(0, 2**32 - 1))
def test_gemm_equals_matmulinteger(m, kd, n, dt, seed):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dt)
    a = rng.integers(info.min, info.max + 1, (m, kd)).astype(dt)
    b = rng.integers(info.min, info.max + 1, (kd, n)).astype(dt)
    az, bz = dt(rng.integers(info.min, info.max + 1)), dt(rng.integers(info.min, info.max + 1))
    y = golden.gemm(a, b, az, bz)
    ref = (a.astype(np.int64) - int(az)) @ (b.astype(np.int64) - int(bz))
    np.testing.assert_array_equal(y, ref)
    ort = run_node("MatMulInteger", {"a": a, "b": b, "a_zero_point": np.asarray(az),
                                     "b_zero_point": np.asarray(bz)})
    np.testing.assert_array_equal(y, ort)


def test_gemm_batched_and_per_column_zero_point():
    rng = np.random.default_rng(5)
    a = rng.integers(-128, 128, (3, 4, 6)).astype(np.int8)
    b = rng.integers(-128, 128, (6, 5)).astype(np.int8)
    bz = rng.integers(-20, 20, 5).astype(np.int8)
    ref = a.astype(np.int64) @ (b.astype(np.int64) - bz)
    np.testing.assert_array_equal(golden.gemm(a, b, None, bz), ref)


X8 = np.zeros((1, 2, 4, 4), np.int8)
W8 = np.zeros((3, 2, 3, 3), np.int8)


@pytest.mark.parametrize("call,err,match", [
    (lambda: golden.conv2d(X8.astype(np.float32), W8), WinnowParameterError,
     "x must be int8 or uint8, not float32"),
    (lambda: golden.conv2d(X8, np.zeros((3, 2, 5, 5), np.int8)), WinnowParameterError,
     "kernel must be 3x3"),
    (lambda: golden.conv2d(X8, np.zeros((3, 4, 3, 3), np.int8)), WinnowParameterError,
     "x has C=2 channels but the weights expect C=4"),
    (lambda: golden.conv2d(X8, W8, pads=(1, -1, 0, 0)), WinnowParameterError,
     "pads must be four non-negative integers"),
    (lambda: golden.conv2d(X8[:, :, :2], W8), WinnowParameterError,
     "smaller than the 3x3 kernel"),
    (lambda: golden.conv2d(X8, W8, x_zero_point=300), WinnowParameterError,
     "x_zero_point 300 outside the range of int8"),
    (lambda: golden.conv2d(X8, W8, x_zero_point=np.zeros(2, np.int8)), WinnowParameterError,
     "x_zero_point must be a scalar"),
    (lambda: golden.conv2d(X8, np.full((3, 2, 3, 3), 200, np.uint8)), WinnowOverflowError,
     "w - w_zero_point spans \\[200, 200\\]; the engine's weight transform is sized for"),
    (lambda: golden.gemm(np.zeros((2, 3), np.int8), np.zeros((4, 2), np.int8)),
     WinnowParameterError, "inner dimensions differ"),
    (lambda: golden.gemm(np.zeros((2, 40000), np.uint8), np.zeros((40000, 2), np.uint8), 255, 255),
     WinnowOverflowError, "can overflow int32"),
])
def test_bad_input_errors(call, err, match):
    with pytest.raises(err, match=match):
        call()
