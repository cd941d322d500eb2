"""Register map emitters and memory layouts."""

import json

import numpy as np
import pytest
from winnow.hls import layout, regmap
from winnow.hls.transforms import F2x2_3x3


def test_registers_unique_aligned_and_fields_fit():
    offsets = [r.offset for r in regmap.REGISTERS]
    assert len(set(offsets)) == len(offsets) and all(o % 4 == 0 for o in offsets)
    for r in regmap.REGISTERS:
        used = 0
        for f in r.fields:
            assert f.lsb + f.width <= 32 and not used & f.mask, (r.name, f.name)
            used |= f.mask


def test_emitters_agree():
    j = json.loads(regmap.to_json())
    h = regmap.to_c_header()
    md = regmap.to_markdown()
    for r in j["registers"]:
        assert f"#define WINNOW_{r['name']} 0x{r['offset']:03X}u" in h
        assert f"| 0x{r['offset']:03X} | {r['name']} |" in md
    assert "#define WINNOW_ERROR_AXI_READ 7u" in h


def test_activation_roundtrip():
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (5, 3, 7)).astype(np.int8)
    buf = layout.pack_activations(x, 16)
    assert buf.size == 3 * 7 * 16
    np.testing.assert_array_equal(layout.unpack_activations(buf, 5, 3, 7, 16), x)


def test_raw_roundtrip():
    y = np.arange(6 * 2 * 3, dtype=np.int32).reshape(6, 2, 3) - 17
    np.testing.assert_array_equal(layout.unpack_raw(layout.pack_raw(y, 16), 6, 2, 3, 16), y)


def test_conv_weights_order():
    rng = np.random.default_rng(1)
    w = rng.integers(-128, 128, (5, 3, 3, 3)).astype(np.int8)
    flat = layout.pack_conv_weights(w, 0, pes=4)
    grouped = flat.reshape(2, 3, 4, 16)  # [group][c][pe][16]
    for k in range(5):
        for c in range(3):
            u = F2x2_3x3.weight_transform(w[k, c].astype(np.int64)).reshape(-1)
            np.testing.assert_array_equal(grouped[k // 4, c, k % 4], u)
    assert not grouped[1, :, 1:].any()  # missing output channels are zero


def test_gemm_image_and_weights():
    a = np.arange(20 * 3, dtype=np.int64).reshape(20, 3).astype(np.int8)
    img = layout.gemm_image(a, np.int8(-5))
    assert img.shape == (3, 8, 4)
    np.testing.assert_array_equal(img[:, 0, 1], a[1])
    assert (img.transpose(1, 2, 0).reshape(32, 3)[20:] == -5).all()
    b = np.arange(6, dtype=np.int8).reshape(3, 2)
    gw = layout.pack_gemm_weights(b, 1, pes=4).reshape(1, 3, 4, 16)
    assert (gw[0, 2, 1] == b[2, 1] - 1).all() and not gw[0, :, 2:].any()


def test_bad_activation_dtype():
    with pytest.raises(ValueError, match="activations must be int8/uint8"):
        layout.pack_activations(np.zeros((1, 2, 2), np.float32), 16)


def test_requant_table_groups_are_bus_aligned():
    t = layout.pack_requant([1, 2, 3], [10, 20, 30], [-1, 0, 1], pes=2, bus_bytes=64)
    assert t.size == 2 * 64
    words = t.view(np.int32).reshape(2, 16)
    assert words[0, :8].tolist() == [1, 10, -1, 0, 2, 20, 0, 0]
    assert words[1, :4].tolist() == [3, 30, 1, 0] and not words[1, 4:].any()
