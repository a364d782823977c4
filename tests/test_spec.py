"""Argument normalisation: padding forms, output sizes, dtype rules, errors."""

import numpy as np
import pytest

from fastconv._spec import compute_dtype, conv_spec, out_size_1, parse_padding


@pytest.mark.parametrize(
    "L,k,s,d,mode,expected",
    [
        (10, 3, 1, 1, "same", (1, 1)),
        (10, 4, 1, 1, "same", (1, 2)),        # extra element at the end (SAME_UPPER)
        (10, 4, 1, 1, "same_lower", (2, 1)),  # extra element at the start
        (10, 3, 2, 1, "same", (0, 1)),        # out = 5: total pad 1 goes at the end
        (11, 3, 2, 1, "same", (1, 1)),
        (10, 2, 2, 1, "same", (0, 0)),
        (7, 3, 1, 2, "same", (2, 2)),
        (7, 3, 1, 2, "full", (4, 4)),
        (7, 3, 1, 1, "valid", (0, 0)),
    ],
)
def test_string_padding(L, k, s, d, mode, expected):
    pad = parse_padding(mode, 1, (L,), (k,), (s,), (d,))
    assert pad == (expected,)
    if mode.startswith("same"):
        assert out_size_1(L, pad[0], k, s, d) == -(-L // s)


def test_padding_forms():
    assert parse_padding(2, 2, (5, 5), (3, 3), (1, 1), (1, 1)) == ((2, 2), (2, 2))
    assert parse_padding((1, 2), 2, (5, 5), (3, 3), (1, 1), (1, 1)) == ((1, 1), (2, 2))
    assert parse_padding(((0, 1), (2, 3)), 2, (5, 5), (3, 3), (1, 1), (1, 1)) == (
        (0, 1), (2, 3))


def test_out_size_formula_and_ceil_mode():
    assert out_size_1(10, (0, 0), 3, 2, 1) == 4
    assert out_size_1(10, (0, 0), 3, 2, 1, ceil_mode=True) == 5
    # the last window may not start in the trailing padding
    assert out_size_1(5, (1, 1), 2, 2, 1, ceil_mode=True) == 3


def test_dtype_rules():
    f16, f32, f64 = np.float16, np.float32, np.float64
    assert compute_dtype(f32, f32) == (np.dtype(f32), np.dtype(f32))
    assert compute_dtype(f16, f16) == (np.dtype(f32), np.dtype(f16))
    assert compute_dtype(f32, f64) == (np.dtype(f64), np.dtype(f64))
    assert compute_dtype(np.int64, f32)[1] == np.result_type(np.int64, f32)
    assert compute_dtype(np.uint8, np.uint8)[1] == np.dtype(f32)
    assert compute_dtype(np.dtype(">f4"), f32) == (np.dtype(f32), np.dtype(f32))


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(x_shape=(3, 5)), ValueError, "x must have 4"),
        (dict(w_shape=(2, 3, 3)), ValueError, "weight must have 4 dimensions"),
        (dict(w_shape=(2, 2, 3, 3)), ValueError, r"C_in // groups = 2.*C_in=3"),
        (dict(groups=2), ValueError, "groups=2 must divide the input channels C_in=3"),
        (dict(groups=0), ValueError, "groups must be >= 1"),
        (dict(stride=0), ValueError, "stride must be >= 1"),
        (dict(stride=(1, 2, 3)), ValueError, "stride must be an int or a tuple of 2"),
        (dict(dilation=-1), ValueError, "dilation must be >= 1"),
        (dict(padding=-1), ValueError, "padding must be non-negative"),
        (dict(padding="sane"), ValueError, "padding must be one of"),
        (dict(padding=1.5), TypeError, "padding must be an int"),
        (dict(padding_mode="mirror"), ValueError, "padding_mode must be one of"),
        (dict(w_shape=(2, 3, 9, 9)), ValueError, "output would be empty"),
        (dict(bias_shape=(3,)), ValueError, r"bias must have shape \(2,\)"),
    ],
)
def test_errors_name_the_argument(kwargs, exc, match):
    args = dict(x_shape=(1, 3, 6, 6), w_shape=(2, 3, 3, 3), bias_shape=None, stride=1,
                padding=0, dilation=1, groups=1, padding_mode="zeros")
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        conv_spec(2, args["x_shape"], args["w_shape"], args["bias_shape"], args["stride"],
                  args["padding"], args["dilation"], args["groups"], args["padding_mode"])


def test_list_arguments_are_memoised_like_tuples():
    """Lists (``padding=[(1, 1), (2, 0)]``, as ``fastconv.convolve`` passes) hit the
    normalisers' memo under their tuple form: same spec object, same errors."""
    from fastconv._spec import conv_spec, freeze

    assert freeze([(1, 1), [2, 0]]) == ((1, 1), (2, 0))
    args = (2, (1, 3, 9, 9), (4, 3, 3, 3), None, 1)
    tail = (1, 1, "zeros", np.dtype(np.float32), np.dtype(np.float32), None)
    a = conv_spec(*args, [(1, 1), (2, 0)], *tail)
    assert a is conv_spec(*args, ((1, 1), (2, 0)), *tail)
    assert a is conv_spec(*args, [(1, 1), (2, 0)], *tail)
    with pytest.raises(ValueError, match="padding"):
        conv_spec(*args, [(1, -1), (0, 0)], *tail)
