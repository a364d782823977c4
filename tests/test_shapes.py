"""Shape arithmetic: agrees with the operators themselves and with the formulas."""

import numpy as np
import pytest

import fastconv as fc


def test_conv_output_shape_matches_conv2d():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 1, 17, 12))
    for k, s, p, d in [(3, 1, 0, 1), (3, 2, 1, 1), ((5, 2), (2, 3), "same", 1), (3, 1, "full", 2),
                       (4, 3, ((1, 2), (0, 3)), 1), (2, 2, "valid", (1, 2))]:
        kk = (k, k) if isinstance(k, int) else k
        y = fc.conv2d(x, np.ones((1, 1) + kk), stride=s, padding=p, dilation=d)
        assert fc.conv_output_shape((17, 12), k, s, p, d) == y.shape[2:]
    assert fc.conv_output_shape(10, 3) == 8
    assert fc.conv_output_shape((224, 224), 7, stride=2, padding=3) == (112, 112)
    assert fc.conv_output_shape(10, 3, padding="same", stride=3) == 4
    assert fc.conv_output_shape((8, 8, 8), 3, padding=1) == (8, 8, 8)
    with pytest.raises(ValueError, match="output would be empty"):
        fc.conv_output_shape(2, 3)
    with pytest.raises(TypeError, match="input_size"):
        fc.conv_output_shape("10", 3)


def test_pool_output_shape():
    assert fc.pool_output_shape((112, 112), 3, stride=2, padding=1) == (56, 56)
    assert fc.pool_output_shape(5, 2) == 2
    assert fc.pool_output_shape(5, 2, ceil_mode=True) == 3
    # formula floor((L + 2p - d(k-1) - 1) / s) + 1
    for L, k, s, p, d in [(13, 3, 2, 1, 1), (20, 4, 3, 2, 2), (7, 7, 1, 0, 1)]:
        assert fc.pool_output_shape(L, k, s, p, d) == (L + 2 * p - d * (k - 1) - 1) // s + 1
    if hasattr(fc, "max_pool2d"):
        y = fc.max_pool2d(np.zeros((1, 1, 15, 9)), 3, stride=2, padding=1, ceil_mode=True)
        assert y.shape[2:] == fc.pool_output_shape((15, 9), 3, 2, 1, ceil_mode=True)
    with pytest.raises(ValueError):
        fc.pool_output_shape(4, 2, padding=5)


def test_conv_transpose_output_shape():
    assert fc.conv_transpose_output_shape((56, 56), 3, stride=2, padding=1,
                                          output_padding=1) == (112, 112)
    for L, k, s, p, op, d in [(5, 3, 2, 1, 1, 1), (7, 4, 3, 0, 2, 1), (4, 3, 1, 2, 0, 2)]:
        assert fc.conv_transpose_output_shape(L, k, s, p, op, d) == (
            (L - 1) * s - 2 * p + d * (k - 1) + op + 1)
        if hasattr(fc, "conv_transpose1d"):
            y = fc.conv_transpose1d(np.zeros((1, 1, L)), np.ones((1, 1, k)), stride=s,
                                    padding=p, output_padding=op, dilation=d)
            assert y.shape[-1] == fc.conv_transpose_output_shape(L, k, s, p, op, d)
    with pytest.raises(ValueError, match="output_padding"):
        fc.conv_transpose_output_shape(5, 3, stride=1, output_padding=1)


def test_receptive_field_growth():
    # the classic stride-1 growth: 3, 5, 7
    assert [f.size for f in fc.receptive_field([3, 3, 3], per_layer=True)] == [3, 5, 7]
    # 3x3 stride-3 layers: 3 -> 9 -> 27, jump 3 -> 9 -> 27
    fields = fc.receptive_field([dict(kernel_size=(3, 3), stride=(3, 3))] * 3, per_layer=True)
    assert [f.size for f in fields] == [(3, 3), (9, 9), (27, 27)]
    assert [f.jump for f in fields] == [(3, 3), (9, 9), (27, 27)]
    assert fields[-1].start == (13.0, 13.0)  # centre of the first 27x27 block
    # a ResNet-like stem: 7x7/2 pad 3 then 3x3/2 max-pool pad 1
    rf = fc.receptive_field([(7, 2, 3), (3, 2, 1)])
    assert rf == fc.ReceptiveField(11, 4, 0.0)
    # dilation 2 on a 3-tap kernel acts like a 5-tap one
    assert fc.receptive_field([(3, 1, 0, 2)]).size == 5
    assert fc.receptive_field([(2, 2)]).start == 0.5


def test_receptive_field_matches_a_real_convolution():
    # which inputs change the first output unit of a conv stack? exactly the field
    layers = [(3, 2, 1), (5, 1, 2), (3, 2, 0)]
    x = np.zeros((1, 1, 64))
    rf = fc.receptive_field(layers)
    hit = []
    for i in range(64):
        xi = x.copy()
        xi[0, 0, i] = 1.0
        h = xi
        for k, s, p in layers:
            h = fc.conv1d(h, np.ones((1, 1, k)), stride=s, padding=p)
        hit.append(h[0, 0, 2] != 0)  # the third unit: its field lies inside the input
    idx = np.flatnonzero(hit)
    centre = rf.start + 2 * rf.jump
    assert idx.min() == centre - (rf.size - 1) / 2 and idx.max() == centre + (rf.size - 1) / 2


def test_receptive_field_errors():
    with pytest.raises(TypeError, match="non-empty sequence"):
        fc.receptive_field([])
    with pytest.raises(ValueError, match="kernel_size"):
        fc.receptive_field([dict(size=3)])
    with pytest.raises(ValueError, match="string paddings"):
        fc.receptive_field([(3, 1, "same")])
    with pytest.raises(ValueError, match="mix"):
        fc.receptive_field([((3, 3, 3),), ((3, 3), 1)])
