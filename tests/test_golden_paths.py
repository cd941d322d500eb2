"""The golden model's algorithms agree exactly: F(2x2,3x3), F(4x4,3x3), auto, direct int64."""

from __future__ import annotations

import numpy as np
import pytest
from winnow.hls import golden
from winnow.hls.errors import WinnowOverflowError, WinnowParameterError
from winnow.hls.transforms import F2x2_3x3, F4x4_3x3


def direct(x, w, x_zp=0, w_zp=0, pads=(0, 0, 0, 0)) -> np.ndarray:
    """Plain int64 correlation with zero-point padding (the ConvInteger definition)."""
    pt, pl, pb, pr = pads
    d = x.astype(np.int64) - int(x_zp)
    g = w.astype(np.int64) - np.asarray(w_zp, dtype=np.int64).reshape(-1, 1, 1, 1)
    d = np.pad(d, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    nb, _, hp, wp = d.shape
    ho, wo = hp - 2, wp - 2
    y = np.zeros((nb, g.shape[0], ho, wo), dtype=np.int64)
    for a in range(3):
        for b in range(3):
            y += np.einsum("nchw,kc->nkhw", d[:, :, a:a + ho, b:b + wo], g[:, :, a, b])
    return y


def _case(rng: np.random.Generator, dtype, extreme: bool):
    nb = int(rng.integers(1, 3))
    c, k = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    h, w = int(rng.integers(1, 8)), int(rng.integers(1, 8))
    pads = tuple(int(v) for v in rng.integers(0, 3, size=4))
    if h + pads[0] + pads[2] < 3:
        pads = (pads[0], pads[1], 3 - h - pads[0], pads[3])
    if w + pads[1] + pads[3] < 3:
        pads = (pads[0], pads[1], pads[2], 3 - w - pads[1])
    info = np.iinfo(dtype)
    if extreme:  # only the extremes of the range
        x = rng.choice(np.array([info.min, info.max], dtype=dtype), size=(nb, c, h, w))
    else:
        x = rng.integers(info.min, info.max + 1, size=(nb, c, h, w), dtype=dtype)
    if dtype == np.int8:
        wt = rng.choice(np.array([-128, 127], dtype=np.int8), size=(k, c, 3, 3)) if extreme \
            else rng.integers(-128, 128, size=(k, c, 3, 3), dtype=np.int8)
        w_zp = None
        x_zp = int(rng.integers(-128, 128)) if not extreme else -128
    else:  # uint8 weights must stay within [-128, 127] after the zero point: zp = 128
        wt = rng.choice(np.array([0, 255], dtype=np.uint8), size=(k, c, 3, 3)) if extreme \
            else rng.integers(0, 256, size=(k, c, 3, 3), dtype=np.uint8)
        w_zp = np.full(k, 128, dtype=np.uint8) if k > 1 else np.uint8(128)
        x_zp = int(rng.integers(0, 256)) if not extreme else 0
    return x, wt, x_zp, w_zp, pads


@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
@pytest.mark.parametrize("extreme", [False, True])
def test_paths_agree_with_direct(dtype, extreme):
    rng = np.random.default_rng(1234 + (dtype == np.uint8) + 2 * extreme)
    for _ in range(40):
        x, w, x_zp, w_zp, pads = _case(rng, dtype, extreme)
        ref = direct(x, w, x_zp, 128 if w_zp is not None else 0, pads)
        assert np.abs(ref).max() <= golden.INT32_MAX
        for wino in (F2x2_3x3, F4x4_3x3, None):
            got = golden.conv2d(x, w, x_zp, w_zp, pads, wino=wino)
            assert got.dtype == np.int32 and got.shape == ref.shape
            np.testing.assert_array_equal(got, ref, err_msg=f"wino={wino and wino.m} {pads}")


def test_single_channel_single_output_extremes():
    x = np.full((1, 1, 5, 7), -128, dtype=np.int8)
    w = np.full((1, 1, 3, 3), 127, dtype=np.int8)
    ref = direct(x, w, 0, 0, (1, 1, 1, 1))
    for wino in (F2x2_3x3, F4x4_3x3, None):
        np.testing.assert_array_equal(golden.conv2d(x, w, pads=(1, 1, 1, 1), wino=wino), ref)


def test_auto_chooses_and_reuses_buffers():
    rng = np.random.default_rng(7)
    w = rng.integers(-128, 128, size=(8, 8, 3, 3), dtype=np.int8)
    pw = golden.prepare_weights(w)
    assert pw.auto and pw.wino is F4x4_3x3
    pw2 = golden.prepare_weights(w, wino=F2x2_3x3)
    assert not pw2.auto and pw2.wino is F2x2_3x3 and pw2.u.shape == (16, 8, 8)
    for _ in range(3):  # same shape twice: reused buffers must not leak old data
        for h in (9, 14, 3):
            x = rng.integers(-128, 128, size=(1, 8, h, h), dtype=np.int8)
            ref = direct(x, w, 0, 0, (1, 1, 1, 1))
            np.testing.assert_array_equal(golden.conv2d_prepared(x, pw, pads=(1, 1, 1, 1)), ref)
            np.testing.assert_array_equal(golden.conv2d_prepared(x, pw2, pads=(1, 1, 1, 1)), ref)
    with pytest.raises(WinnowParameterError):
        pw2.u_for(F4x4_3x3)


def test_errors_kept():
    w = np.zeros((2, 3, 3, 3), dtype=np.int8)
    with pytest.raises(WinnowParameterError):
        golden.conv2d(np.zeros((1, 2, 5, 5), dtype=np.int8), w)
    with pytest.raises(WinnowParameterError):
        golden.conv2d(np.zeros((1, 3, 5, 5), dtype=np.float32), w)
    with pytest.raises(WinnowOverflowError):
        golden.prepare_weights(np.full((1, 1, 3, 3), 200, dtype=np.uint8))  # zp 0: 200 > 127
    big = golden.prepare_weights(np.full((1, 20000, 3, 3), 127, dtype=np.int8))
    with pytest.raises(WinnowOverflowError):
        golden.conv2d_prepared(np.zeros((1, 20000, 3, 3), dtype=np.int8), big)
