"""The emu device's direct float32 conv is bit-identical to the golden model (any chunking)."""

import numpy as np
import pytest
from winnow.hls import golden
from winnow.runtime import emuconv


@pytest.mark.parametrize("seed", range(6))
def test_direct_conv_equals_golden(seed):
    rng = np.random.default_rng(seed)
    dt = (np.uint8, np.int8)[seed % 2]
    info = np.iinfo(dt)
    c, k = int(rng.integers(1, 140)), int(rng.integers(1, 12))
    x = rng.integers(info.min, info.max + 1, (int(rng.integers(1, 3)), c, 9, 7)).astype(dt)
    w = rng.integers(-128, 128, (k, c, 3, 3)).astype(np.int8)
    w[0, 0, 0, 0] = -128  # the largest |w - zp| the engine takes
    zp = dt(rng.integers(info.min, info.max + 1))
    pads = tuple(int(v) for v in rng.integers(0, 3, 4))
    pw = golden.prepare_weights(w)
    ref = golden.conv2d_prepared(x, pw, zp, pads)
    assert -(-c // emuconv.direct_chunk(c, 255, 128)) >= 1
    y = emuconv._direct(x, pw, int(zp), max(int(zp) - info.min, info.max - int(zp)), pads)
    assert y.dtype == np.int32 and np.array_equal(y, ref)
    for _ in range(2):  # first call times both methods, later calls use the faster
        assert np.array_equal(emuconv.conv2d(x, pw, zp, pads), ref)


def test_chunks_keep_float32_sums_exact():
    for c in (1, 3, 57, 58, 64, 200, 512):
        ch = emuconv.direct_chunk(c, 255, 128)
        assert ch * 9 * 255 * 128 < 2 ** 24 and ch <= c


def test_unusual_inputs_go_to_the_golden_model_and_its_errors():
    pw = golden.prepare_weights(np.ones((2, 3, 3, 3), np.int8))
    with pytest.raises(Exception, match="channels"):
        emuconv.conv2d(np.zeros((1, 4, 5, 5), np.uint8), pw)
