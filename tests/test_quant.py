"""hls.quant: weight/activation quantization, and requantization in engine and host form.

The host form is checked bit for bit against onnxruntime's CPU QLinearConv; the engine
form against an exact big-integer reference; the two against each other with a stated bound.
Every random case is seeded and its seed appears in the assertion message.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper
from onnx_ref import initializer, run_node, session
from onnxruntime.quantization import quant_utils
from winnow.hls import golden
from winnow.hls import quant as q
from winnow.hls.errors import WinnowOverflowError, WinnowParameterError

_ONNX_T = {np.dtype(np.uint8): TensorProto.UINT8, np.dtype(np.int8): TensorProto.INT8}


# ----------------------------------------------------------------------------- weights

@pytest.mark.parametrize("seed", range(20))
def test_quantize_weights_matches_onnxruntime(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 9))
    w = (rng.standard_normal((k, 3, 3, 3)) * np.exp(rng.uniform(-8, 2, (k, 1, 1, 1))))
    w = w.astype(np.float32)
    if k > 1:
        w[0] = 0.0  # an all-zero channel
    wq, scales = q.quantize_weights(w)
    assert wq.dtype == np.int8 and scales.dtype == np.float32 and scales.shape == (k,)
    assert wq.min() >= -127 and wq.max() <= 127
    for c in range(k):
        zp, sc, qd = quant_utils.quantize_data(w[c].ravel(), TensorProto.INT8, symmetric=True)
        assert int(zp) == 0, f"seed {seed}"
        assert np.float32(sc) == scales[c], f"seed {seed} channel {c}: {sc} vs {scales[c]}"
        np.testing.assert_array_equal(qd.reshape(w[c].shape), wq[c], err_msg=f"seed {seed}")
        # the extreme lands on +-127 and the error is at most half a step
        if w[c].any():
            assert np.abs(wq[c]).max() == 127
            err = np.abs(wq[c].astype(np.float64) * scales[c] - w[c]).max()
            assert err <= 0.5 * float(scales[c]) * (1 + 1e-6)


def test_quantize_weights_zero_channel_and_axis():
    w = np.zeros((2, 4), dtype=np.float32)
    w[1] = [1.0, -2.0, 0.5, 2.0]
    wq, s = q.quantize_weights(w)
    assert s[0] == np.float32(1.0) and not wq[0].any()  # all-zero channel: scale 1.0
    assert s[1] == np.float32(2.0 / 127)
    assert wq[1].tolist() == [64, -127, 32, 127]  # 63.5 -> 64 (half to even), 31.75 -> 32
    wq_t, s_t = q.quantize_weights(w.T.copy(), axis=1)
    np.testing.assert_array_equal(wq_t, wq.T)
    np.testing.assert_array_equal(s_t, s)


def test_quantize_weights_errors():
    with pytest.raises(WinnowParameterError, match="floating-point array, got int8"):
        q.quantize_weights(np.ones((2, 3), dtype=np.int8))
    with pytest.raises(WinnowParameterError, match="NaN or infinity"):
        q.quantize_weights(np.array([[1.0, np.nan]]))
    with pytest.raises(WinnowParameterError, match=r"non-empty array \[K, ...\]"):
        q.quantize_weights(np.zeros((0, 3), dtype=np.float32))
    with pytest.raises(WinnowParameterError, match="axis=2 is out of range"):
        q.quantize_weights(np.ones((2, 3), dtype=np.float32), axis=2)


# ----------------------------------------------------------------------------- activations

_range = st.floats(-1e6, 1e6, allow_nan=False, width=32)
_TINY = float(np.float32(1e-36))
_tiny = st.floats(-_TINY, _TINY, allow_nan=False, width=32)


@given(a=st.one_of(_range, _tiny), b=st.one_of(_range, _tiny),
       dtype=st.sampled_from([np.uint8, np.int8]), symmetric=st.booleans())
def test_compute_scale_zp_matches_onnxruntime(a, b, dtype, symmetric):
    rmin, rmax = np.float32(min(a, b)), np.float32(max(a, b))
    qt = _ONNX_T[np.dtype(dtype)]
    qmin, qmax = quant_utils.get_qmin_qmax_for_qType(qt, symmetric=symmetric)
    zp_ref, s_ref = quant_utils.compute_scale_zp(np.array(rmin), np.array(rmax), qmin, qmax,
                                                 symmetric)
    s, zp = q.compute_scale_zp(rmin, rmax, dtype, symmetric)
    assert s.dtype == np.float32 and s == np.float32(s_ref), (rmin, rmax)
    assert zp == int(zp_ref), (rmin, rmax)
    # zero is exactly representable and the (0-widened) range is covered to half a step
    lo, hi = q._qrange(np.dtype(dtype))
    assert lo <= zp <= hi
    assert q.quantize_linear(np.float32(0), s, zp, dtype) == zp


@pytest.mark.parametrize("seed", range(10))
def test_compute_scale_zp_random_ranges(seed):
    rng = np.random.default_rng(100 + seed)
    for _ in range(200):
        lo, hi = np.sort(rng.standard_normal(2) * 10.0 ** rng.integers(-6, 6)).astype(np.float32)
        for dt in (np.uint8, np.int8):
            for sym in (False, True):
                qt = _ONNX_T[np.dtype(dt)]
                qmin, qmax = quant_utils.get_qmin_qmax_for_qType(qt, symmetric=sym)
                zr, sr = quant_utils.compute_scale_zp(np.array(lo), np.array(hi), qmin, qmax, sym)
                s, z = q.compute_scale_zp(lo, hi, dt, sym)
                assert (s, z) == (np.float32(sr), int(zr)), f"seed {seed}: {lo}, {hi}, {dt}"


def test_compute_scale_zp_conventions():
    assert q.compute_scale_zp(0.0, 0.0, np.uint8) == (np.float32(1.0), 0)
    assert q.compute_scale_zp(2.0, 5.1, np.uint8) == (np.float32(0.02), 0)  # widened to 0
    assert q.compute_scale_zp(-5.1, -2.0, np.int8) == (np.float32(0.02), 127)
    assert q.compute_scale_zp(-1.0, 3.0, np.uint8, symmetric=True)[1] == 128
    assert q.compute_scale_zp(-1.0, 3.0, np.int8, symmetric=True) == (np.float32(3 / 127), 0)


def test_calibrator_minmax_over_batches():
    rng = np.random.default_rng(7)
    batches = [rng.standard_normal((4, 8)).astype(np.float32) + 2.0 for _ in range(5)]
    cal = q.Calibrator(np.uint8, "minmax")
    for b in batches:
        cal.update(b)
    allv = np.concatenate([b.ravel() for b in batches])
    assert cal.range() == (float(allv.min()), float(allv.max()))
    assert cal.count == allv.size
    p = cal.params()
    assert (p.scale, p.zero_point) == q.compute_scale_zp(allv.min(), allv.max(), np.uint8)
    assert q.calibrate(batches, np.uint8) == p
    x = q.quantize_linear(allv, p.scale, p.zero_point, np.uint8)
    assert np.abs(p.dequantize(x) - allv).max() <= p.scale * 0.5 * (1 + 1e-5)


def test_calibrator_percentile_cuts_both_tails():
    data = np.arange(-5000, 5001, dtype=np.float32)  # 10001 values
    data[0], data[-1] = -1e6, 1e6  # outliers
    cal = q.Calibrator(np.int8, q.CalibrationMethod.PERCENTILE, percentile=99.0)
    for part in np.array_split(data, 7):
        cal.update(part)
    lo, hi = cal.range()
    # 0.5 % cut from each tail of 10001 values: linear-interpolated quantiles at 50 from each end
    assert (lo, hi) == (-4950.0, 4950.0)
    full = q.Calibrator(np.int8, "percentile", percentile=100.0).update(data)
    assert full.range() == (-1e6, 1e6)
    # a reservoir sample smaller than the data still lands near the exact percentile
    sub = q.Calibrator(np.int8, "percentile", percentile=99.0, max_samples=4000)
    for part in np.array_split(data, 7):
        sub.update(part)
    slo, shi = sub.range()
    assert abs(slo + 4950) < 150 and abs(shi - 4950) < 150


def test_calibrator_range_includes_zero():
    pos = np.linspace(1.0, 3.0, 50, dtype=np.float32)
    assert q.calibrate(pos, np.uint8).zero_point == 0
    assert q.calibrate(pos, np.int8).zero_point == -128
    assert q.calibrate(-pos, np.uint8).zero_point == 255


def test_calibrator_errors():
    with pytest.raises(WinnowParameterError, match=r"method must be one of \['minmax', 'perc"):
        q.Calibrator(np.uint8, "entropy")
    with pytest.raises(WinnowParameterError, match=r"percentile must be in \(50, 100\]"):
        q.Calibrator(np.uint8, "percentile", percentile=101)
    with pytest.raises(WinnowParameterError, match="no calibration data"):
        q.Calibrator(np.uint8).range()
    with pytest.raises(WinnowParameterError, match="NaN or infinity"):
        q.Calibrator(np.uint8).update(np.array([1.0, np.inf]))
    with pytest.raises(WinnowParameterError, match="must be int8 or uint8, got int16"):
        q.Calibrator(np.int16)
    with pytest.raises(WinnowParameterError, match="rmin=2.0 > rmax=1.0"):
        q.compute_scale_zp(2.0, 1.0, np.uint8)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
def test_quantize_dequantize_linear_match_onnxruntime(dtype):
    rng = np.random.default_rng(11)
    info = np.iinfo(dtype)
    for case in range(8):
        scale = np.float32(np.exp(rng.uniform(-6, 1)))
        zp = dtype(rng.integers(info.min, info.max + 1))
        x = (rng.standard_normal(500) * 200 * scale).astype(np.float32)
        x[:50] = ((np.arange(50) - 25 + 0.5) * scale).astype(np.float32)  # near ties
        ref = run_node("QuantizeLinear", {"x": x, "s": scale, "z": zp}, out_dtype=dtype)
        got = q.quantize_linear(x, scale, zp, dtype)
        np.testing.assert_array_equal(got, ref, err_msg=f"case {case}")
        dref = run_node("DequantizeLinear", {"q": got, "s": scale, "z": zp},
                        out_dtype=np.float32)
        np.testing.assert_array_equal(q.dequantize_linear(got, scale, zp), dref)


def test_quantize_linear_errors():
    with pytest.raises(WinnowParameterError, match=r"scale must be positive and finite"):
        q.quantize_linear(np.zeros(3, np.float32), 0.0, 0, np.uint8)
    with pytest.raises(WinnowParameterError, match=r"scale must be positive and finite"):
        q.quantize_linear(np.zeros(3, np.float32), -0.5, 0, np.uint8)
    with pytest.raises(WinnowParameterError, match=r"zero_point=300 is outside uint8 range"):
        q.quantize_linear(np.zeros(3, np.float32), 0.5, 300, np.uint8)
    with pytest.raises(WinnowParameterError, match="scale must be a scalar, got shape"):
        q.quantize_linear(np.zeros(3, np.float32), np.ones(2), 0, np.uint8)
    with pytest.raises(WinnowParameterError, match="must be int8 or uint8, got int32"):
        q.dequantize_linear(np.zeros(3, np.int32), 0.5, 0)


# ----------------------------------------------------------------------------- multiplier

def _exact_engine(v: int, m: int, s: int) -> int:
    """Round half up of v*M/2**(31+s), with Python big integers."""
    n = 31 + s
    return (v * m + (1 << (n - 1))) >> n


@given(st.floats(2.0 ** -32, 2.0 ** 30, exclude_max=True, allow_nan=False))
def test_quantize_multiplier_is_normalized_and_accurate(real):
    m, s = q.quantize_multiplier(real)
    assert (1 << 30) <= m < (1 << 31) and q.SHIFT_MIN <= s <= q.SHIFT_MAX
    approx = Fraction(m, 1 << (31 + s)) if 31 + s >= 0 else Fraction(m << -(31 + s))
    assert abs(approx - Fraction(real)) <= Fraction(real) * Fraction(1, 1 << 31)


def test_quantize_multiplier_edges():
    assert q.quantize_multiplier(0.5) == (1 << 30, 0)
    assert q.quantize_multiplier(1.0) == (1 << 30, -1)
    assert q.quantize_multiplier(1 - 2.0 ** -40) == (1 << 30, -1)  # M rounds up to 2**31
    assert q.quantize_multiplier(0.75) == (3 << 29, 0)
    assert q.quantize_multiplier(2.0 ** -32) == (1 << 30, 31)
    assert q.quantize_multiplier(0.0) == (0, 0)
    assert q.quantize_multiplier(2.0 ** -33) == (0, 0)  # flushed: output = zero point
    with pytest.raises(WinnowParameterError, match=r"too large for the engine .*below 2\*\*30"):
        q.quantize_multiplier(2.0 ** 30)
    with pytest.raises(WinnowParameterError, match="must be finite and >= 0, got -0.1"):
        q.quantize_multiplier(-0.1)
    with pytest.raises(WinnowParameterError, match="must be finite and >= 0, got nan"):
        q.quantize_multiplier(float("nan"))


def test_engine_params_errors():
    with pytest.raises(WinnowParameterError, match=r"not normalized: each must be 0 or in \[2"):
        q.EngineRequant(np.array([12345]), np.array([0]), 0, np.int8)
    with pytest.raises(WinnowParameterError, match=r"shift \[40\] outside \[-30, 31\]"):
        q.EngineRequant(np.array([1 << 30]), np.array([40]), 0, np.int8)
    with pytest.raises(WinnowParameterError, match="1-D of the same length"):
        q.EngineRequant(np.array([1 << 30, 1 << 30]), np.array([0]), 0, np.int8)
    with pytest.raises(WinnowParameterError, match="quantized dtype must be int8 or uint8"):
        q.engine_requant_params(0.1, [0.1], 0.1, 0, np.int16)
    with pytest.raises(WinnowParameterError, match=r"w_scale must be positive and finite"):
        q.engine_requant_params(0.1, [0.1, 0.0], 0.1, 0, np.int8)
    with pytest.raises(WinnowParameterError, match=r"y_scale must be a scalar, got shape \(2,\)"):
        q.engine_requant_params(0.1, [0.1], [0.1, 0.2], 0, np.int8)
    with pytest.raises(WinnowParameterError, match=r"too large for the engine"):
        q.engine_requant_params(1.0, [1.0], 1e-12, 0, np.int8)
    p = q.engine_requant_params(0.1, [0.1, 0.2], 0.5, 3, np.int8)
    acc = np.zeros((1, 3, 2, 2), np.int32)
    with pytest.raises(WinnowParameterError, match="2 per-channel .* acc has 3 channels"):
        q.requantize_engine(acc, p)
    with pytest.raises(WinnowParameterError, match="acc must be int32"):
        q.requantize_engine(acc[:, :2].astype(np.int64), p)
    with pytest.raises(WinnowParameterError, match=r"bias must be int32 of shape \(2,\)"):
        q.requantize_engine(acc[:, :2], p, bias=np.zeros(2, np.int64))
    with pytest.raises(WinnowParameterError, match=r"acc_bits must be an integer in \[2, 32\]"):
        q.requant_widths(40)


# ----------------------------------------------------------------------------- engine form

@pytest.mark.parametrize("seed", range(6))
def test_requantize_engine_matches_exact_integer_reference(seed):
    rng = np.random.default_rng(200 + seed)
    k = 16
    dt = [np.uint8, np.int8][seed % 2]
    reals = np.exp(rng.uniform(np.log(2.0 ** -32), np.log(4.0), k))
    ms = [q.quantize_multiplier(r) for r in reals]
    zp = int(rng.integers(np.iinfo(dt).min, np.iinfo(dt).max + 1))
    relu = bool(seed % 3 == 0)
    p = q.EngineRequant(np.array([m for m, _ in ms]), np.array([s for _, s in ms]), zp, dt, relu)
    acc = rng.integers(-(1 << 31), 1 << 31, (3, k, 20), dtype=np.int64)
    acc[0, :, :4] = [-(1 << 31), (1 << 31) - 1, 0, -1]  # extremes
    # values near the rounding boundary of each channel
    near = np.array([round((rng.integers(-200, 200) + 0.5) / r) for r in reals])
    acc[1] = np.clip(near[:, None] + rng.integers(-3, 4, (k, 20)), -(1 << 31), (1 << 31) - 1)
    acc = acc.astype(np.int32)
    bias = rng.integers(-(1 << 31), 1 << 31, k, dtype=np.int64).astype(np.int32)
    bias[: k // 2] //= 1 << 16
    y = q.requantize_engine(acc, p, bias)
    assert y.dtype == dt
    lo, hi = p.bounds
    w = q.requant_widths()
    for (b, c, i), got in np.ndenumerate(y):
        v = int(acc[b, c, i]) + int(bias[c])
        m, s = ms[c]
        t = _exact_engine(v, m, s)
        assert int(got) == min(max(t + zp, lo), hi), f"seed {seed} at {(b, c, i)}"
        # every intermediate fits the declared widths
        assert q.signed_bits(v, v) <= w.sum_bits
        assert q.signed_bits(v * m, v * m) <= w.product_bits
        assert q.signed_bits(t, t) <= w.rounded_bits
    if relu:
        assert y.min() >= zp


def test_requant_widths_are_tight():
    w = q.requant_widths(32, 32)
    assert (w.sum_bits, w.multiplier_bits, w.product_bits) == (33, 31, 64)
    assert (w.shift_bits, w.rounded_bits, w.clamp_bits, w.out_bits) == (6, 63, 9, 8)
    # the worst cases reach the widths (no slack) and int64 holds the product
    v = -(1 << 31) * 2
    assert q.signed_bits(v, v) == 33
    assert q.signed_bits(v * ((1 << 31) - 1), 0) == 64
    w20 = q.requant_widths(20, 20)
    assert (w20.sum_bits, w20.product_bits) == (21, 52)


def test_engine_rounds_half_up_and_relu():
    # real = 0.5 exactly: ties everywhere; engine rounds toward +inf
    p = q.engine_requant_params(1.0, [0.5], 1.0, 0, np.int8)
    acc = np.array([[-5, -3, -1, 1, 3, 5]], np.int32)
    assert q.requantize_engine(acc, p).tolist() == [[-2, -1, 0, 1, 2, 3]]
    pr = q.engine_requant_params(1.0, [0.5], 1.0, -3, np.int8, relu=True)
    assert q.requantize_engine(acc, pr).tolist() == [[-3, -3, -3, -2, -1, 0]]
    # flushed multiplier: output is the zero point
    pz = q.engine_requant_params(1.0, [1e-12], 1.0, 7, np.uint8)
    assert q.requantize_engine(np.array([[(1 << 31) - 1]], np.int32), pz).tolist() == [[7]]


# ----------------------------------------------------------------------------- host form vs ORT

def _qlinearconv_session(w, xs, xzp, ws, wzp, ys, yzp, bias, pads, xdt):
    inits = [initializer("x_scale", np.float32(xs)), initializer("x_zp", xzp),
             initializer("w", w), initializer("w_scale", ws), initializer("w_zp", wzp),
             initializer("y_scale", np.float32(ys)), initializer("y_zp", yzp)]
    ins = ["x", "x_scale", "x_zp", "w", "w_scale", "w_zp", "y_scale", "y_zp"]
    if bias is not None:
        inits.append(initializer("b", bias))
        ins.append("b")
    node = helper.make_node("QLinearConv", ins, ["y"], pads=[int(p) for p in pads],
                            kernel_shape=[3, 3])
    t = _ONNX_T[np.dtype(xdt)]
    graph = helper.make_graph([node], "qlinearconv", [helper.make_tensor_value_info("x", t, None)],
                              [helper.make_tensor_value_info("y", t, None)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    return session(model)


def _random_conv_case(seed):
    """A random QLinearConv (ORT's supported type combinations) and its golden accumulator."""
    rng = np.random.default_rng(seed)
    xdt = [np.uint8, np.int8][seed % 2]
    wdt = np.int8 if xdt == np.int8 or seed % 4 < 2 else np.uint8
    info = np.iinfo(xdt)
    k, c = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    h, w_ = int(rng.integers(3, 9)), int(rng.integers(3, 9))
    pads = tuple(int(p) for p in rng.integers(0, 3, 4))
    x = rng.integers(info.min, info.max + 1, (int(rng.integers(1, 3)), c, h, w_)).astype(xdt)
    xzp = xdt(rng.integers(info.min, info.max + 1))
    if wdt == np.int8:  # symmetric weights (ORT's fused ConvSym path) or a small zero point
        wzp = np.int8(0) if rng.random() < 0.5 else np.int8(rng.integers(-10, 10))
        lo, hi = max(-128, -128 + int(wzp)), min(127, 127 + int(wzp))
    else:
        wzp = np.uint8(rng.integers(120, 136))
        lo, hi = max(0, int(wzp) - 128), min(255, int(wzp) + 127)
    w = rng.integers(lo, hi + 1, (k, c, 3, 3)).astype(wdt)
    per_channel = bool(rng.random() < 0.5)
    xs = np.float32(np.exp(rng.uniform(-6, 0)))
    ws = np.exp(rng.uniform(-8, -2, k if per_channel else 1)).astype(np.float32)
    # y_scale so that outputs spread over (and beyond) the 8-bit range
    ys = np.float32(xs * ws.max() * np.exp(rng.uniform(2, 7)) * np.sqrt(c))
    yzp = xdt(rng.integers(info.min, info.max + 1))
    bias = rng.integers(-40000, 40000, k).astype(np.int32) if rng.random() < 0.6 else None
    sess = _qlinearconv_session(w, xs, xzp, ws if per_channel else ws.reshape(()),
                                np.full(k, wzp, wdt) if per_channel else wzp, ys, yzp, bias,
                                pads, xdt)
    y_ort = sess.run(None, {"x": x})[0]
    acc = golden.conv2d(x, w, xzp, wzp, pads)
    return dict(acc=acc, bias=bias, xs=xs, ws=ws, ys=ys, yzp=yzp, dt=xdt, y_ort=y_ort)


@pytest.mark.parametrize("block", range(4))
def test_host_requant_matches_onnxruntime_qlinearconv(block):
    for seed in range(block * 60, block * 60 + 60):
        cs = _random_conv_case(seed)
        y = q.requantize_host(cs["acc"], cs["xs"], cs["ws"], cs["ys"], cs["yzp"], cs["dt"],
                              cs["bias"])
        np.testing.assert_array_equal(y, cs["y_ort"], err_msg=f"seed {seed}")


def _near_tie_case(seed, k=256):
    """Accumulators (set through the bias, with zero weights) within a few units of a
    rounding boundary, over the full int32 range: these separate float32 from float64."""
    rng = np.random.default_rng(10_000 + seed)
    xdt = [np.uint8, np.int8][seed % 2]
    wdt = np.int8 if xdt == np.int8 or seed % 4 < 2 else np.uint8
    wzp = wdt(0) if wdt == np.int8 else wdt(128)
    info = np.iinfo(xdt)
    xs = np.float32(np.exp(rng.uniform(-6, 0)))
    ws = np.exp(rng.uniform(-8, -2, k)).astype(np.float32)
    ys = np.float32(np.exp(rng.uniform(-3, 3)))
    if seed % 5 == 0:  # power-of-two scales: exact ties are common
        xs, ys = np.float32(2.0 ** -int(rng.integers(1, 8))), np.float32(1.0)
        ws = (2.0 ** -rng.integers(1, 12, k)).astype(np.float32)
    real = np.float64(xs) * ws.astype(np.float64) / np.float64(ys)
    target = rng.integers(-200, 200, k) + 0.5
    acc = np.round(target / real).astype(np.int64) + rng.integers(-2, 3, k)
    bias = np.clip(acc, -(1 << 31), (1 << 31) - 1).astype(np.int32)
    yzp = xdt(rng.integers(info.min, info.max + 1))
    sess = _qlinearconv_session(np.full((k, 1, 3, 3), wzp, wdt), xs, xdt(0), ws,
                                np.full(k, wzp, wdt), ys, yzp, bias, (1, 1, 1, 1), xdt)
    y_ort = sess.run(None, {"x": np.zeros((1, 1, 1, 1), xdt)})[0]
    acc0 = np.zeros((1, k, 1, 1), np.int32)  # zero weights: the accumulator is the bias
    return dict(acc=acc0, bias=bias, xs=xs, ws=ws, ys=ys, yzp=yzp, dt=xdt, y_ort=y_ort)


@pytest.mark.parametrize("block", range(2))
def test_host_requant_matches_onnxruntime_near_ties(block):
    float64_mismatch = 0
    for seed in range(block * 40, block * 40 + 40):
        cs = _near_tie_case(seed)
        y = q.requantize_host(cs["acc"], cs["xs"], cs["ws"], cs["ys"], cs["yzp"], cs["dt"],
                              cs["bias"])
        np.testing.assert_array_equal(y, cs["y_ort"], err_msg=f"seed {seed}")
        # the same in float64 does not match: these cases do discriminate
        v = cs["bias"].astype(np.float64) * (np.float64(cs["xs"]) * cs["ws"] / np.float64(cs["ys"]))
        info = np.iinfo(cs["dt"])
        y64 = np.clip(np.round(v) + int(cs["yzp"]), info.min, info.max)
        float64_mismatch += int((y64 != cs["y_ort"].ravel()).sum())
    assert float64_mismatch > 50


def test_host_requant_errors():
    acc = np.array([[(1 << 31) - 1]], np.int32)
    with pytest.raises(WinnowOverflowError, match="beyond int32; onnxruntime would wrap"):
        q.requantize_host(acc, 0.1, 0.1, 0.1, 0, np.int8, bias=np.array([5], np.int32))
    with pytest.raises(WinnowParameterError, match="overflows float32"):
        q.requantize_host(acc, 1e30, 1e30, 1e-30, 0, np.int8)
    with pytest.raises(WinnowParameterError, match=r"x_scale must be positive and finite"):
        q.requantize_host(acc, float("nan"), 0.1, 0.1, 0, np.int8)
    with pytest.raises(WinnowParameterError, match=r"y_zero_point=-1 is outside uint8 range"):
        q.requantize_host(acc, 0.1, 0.1, 0.1, -1, np.uint8)
    with pytest.raises(WinnowParameterError, match=r"w_scale must be a scalar or shape \(3,\)"):
        q.host_multiplier(0.1, np.ones((3, 1)), 0.1)


# ----------------------------------------------------------------------------- engine vs host

def _distance_to_half(t: Fraction) -> Fraction:
    u = t - Fraction(1, 2)
    return abs(u - round(u))


def _compare_engine_host(cs, stats):
    acc, bias = cs["acc"], cs["bias"]
    k = acc.shape[1]
    ws = np.broadcast_to(cs["ws"], (k,))
    yh = q.requantize_host(acc, cs["xs"], cs["ws"], cs["ys"], cs["yzp"], cs["dt"], bias)
    p = q.engine_requant_params(cs["xs"], ws, cs["ys"], cs["yzp"], cs["dt"])
    ye = q.requantize_engine(acc, p, bias)
    diff = np.abs(ye.astype(np.int32) - yh.astype(np.int32))
    stats["elements"] += diff.size
    stats["max_diff"] = max(stats["max_diff"], int(diff.max()))
    for idx in zip(*np.nonzero(diff), strict=True):
        c = idx[1]
        v = int(acc[idx]) + (int(bias[c]) if bias is not None else 0)
        t = v * Fraction(float(cs["xs"])) * Fraction(float(ws[c])) / Fraction(float(cs["ys"]))
        rel = _distance_to_half(t) / max(1, abs(t))
        stats["mismatches"] += 1
        stats["ties"] += int(rel == 0)
        stats["max_rel_gap"] = max(stats["max_rel_gap"], float(rel))


def test_engine_and_host_differ_by_at_most_one_lsb_near_half():
    """Where the forms can differ: only within HOST_ENGINE_REL_GAP * max(1, |t|) of a
    half-integer, t = (acc + bias) * x_scale * w_scale / y_scale exactly; by at most 1 LSB."""
    stats = dict(elements=0, mismatches=0, ties=0, max_diff=0, max_rel_gap=0.0)
    for seed in range(60):
        _compare_engine_host(_random_conv_case(seed), stats)
    for seed in range(40):
        _compare_engine_host(_near_tie_case(seed), stats)
    print(stats)
    assert stats["max_diff"] <= 1, stats
    assert stats["max_rel_gap"] <= q.HOST_ENGINE_REL_GAP, stats
    assert stats["mismatches"] > 0 and stats["ties"] > 0, stats  # the cases do reach the bound
