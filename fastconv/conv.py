"""Convolution layers: ``conv1d``, ``conv2d``, ``conv3d`` (PyTorch semantics).

Each public function is a thin wrapper: normalise once (``_spec.conv_spec``),
plan (``plan.make_plan``), convert the arrays once, run the planned algorithm.
"""

from __future__ import annotations

import numpy as np

from . import algorithms
from ._spec import NP_PAD_MODE, ConvSpec, as_array, check_out, conv_spec, to_compute
from .plan import Plan, _record, make_plan

__all__ = ["conv1d", "conv2d", "conv3d"]


def _prepare_input(spec: ConvSpec, x: np.ndarray) -> tuple[ConvSpec, np.ndarray]:
    """Compute-dtype, C-contiguous (N, C, *spatial) input; non-zero padding modes
    materialised with ``np.pad`` (the result's spec then has zero padding)."""
    xs = to_compute(x, spec.dtype).reshape(spec.x_shape)
    if spec.zero_padded():
        return spec, xs
    xs = np.pad(xs, ((0, 0), (0, 0)) + spec.pad, mode=NP_PAD_MODE[spec.padding_mode])
    return spec.after_explicit_padding(), xs


def _run(spec: ConvSpec, plan: Plan, x, w, b, out=None) -> np.ndarray:
    """Run ``plan`` on validated arrays; returns the (N, Co, *out) compute-dtype result.

    ``out`` (optional) is a C-contiguous compute-dtype buffer of that shape.
    """
    run_spec, xs = _prepare_input(spec, x)
    ws = to_compute(w, spec.dtype)
    bs = to_compute(b, spec.dtype) if b is not None else np.zeros(1, spec.dtype)
    res_shape = (spec.batch, spec.out_channels) + spec.out_size
    if out is None:
        out = np.empty(res_shape, spec.dtype)
    if spec.batch:
        algorithms.get(plan.algorithm).forward(run_spec, plan, xs, ws, bs, out)
    _record(plan)
    return out


def _conv(nd, x, weight, bias, stride, padding, dilation, groups, padding_mode, algorithm,
          backend, out):
    x = as_array(x, "x")
    weight = as_array(weight, "weight")
    bias = None if bias is None else as_array(bias, "bias")
    spec = conv_spec(
        nd, x.shape, weight.shape, None if bias is None else bias.shape, stride, padding,
        dilation, groups, padding_mode, x.dtype, weight.dtype,
        None if bias is None else bias.dtype,
    )
    plan = make_plan(spec, algorithm, backend)
    if out is not None:
        check_out(out, spec.out_shape, spec.result_dtype)
    # Write straight into ``out`` when it is a suitable buffer that no input aliases.
    direct_out = None
    if (
        out is not None
        and out.dtype == spec.dtype
        and out.flags.c_contiguous
        and not any(np.may_share_memory(out, a) for a in (x, weight, bias) if a is not None)
    ):
        direct_out = out.reshape((spec.batch, spec.out_channels) + spec.out_size)
    res = _run(spec, plan, x, weight, bias, direct_out)
    if direct_out is not None:
        return out
    res = res.reshape(spec.out_shape)
    if out is not None:
        out[...] = res
        return out
    return res.astype(spec.result_dtype, copy=False)


_DOC = """{nd}-D convolution (cross-correlation, as ``torch.nn.functional.conv{nd}d``).

Parameters
----------
x : array_like, shape (N, C_in, {sp}) or (C_in, {sp})
    Input; any layout, byte order or dtype (see the dtype rules in the README).
weight : array_like, shape (C_out, C_in // groups, {ks})
bias : array_like, shape (C_out,), optional
stride, dilation : int or tuple of {nd} ints
padding : int, tuple, tuple of (before, after) pairs, or str
    ``"valid"``, ``"same"`` (extra element at the end), ``"same_lower"``, ``"full"``.
groups : int
padding_mode : {{"zeros", "reflect", "replicate", "circular", "symmetric"}}
algorithm : {{"auto", "direct", "im2col", "winograd", "fft", "separable"}}
    ``"auto"`` runs what :func:`fastconv.plan_conv` returns.
backend : {{"auto", "numba", "cython", "cuda"}}
out : ndarray, optional
    Preallocated result of the exact shape and dtype.

Returns
-------
ndarray, shape (N, C_out, {osp}) (unbatched if ``x`` was)

Examples
--------
>>> import numpy as np, fastconv as fc
>>> x = np.ones({ex_x}, np.float32)
>>> fc.conv{nd}d(x, np.ones({ex_w}, np.float32), padding=1).shape
{ex_out}
"""


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros", algorithm="auto", backend="auto", out=None):
    return _conv(1, x, weight, bias, stride, padding, dilation, groups, padding_mode,
                 algorithm, backend, out)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros", algorithm="auto", backend="auto", out=None):
    return _conv(2, x, weight, bias, stride, padding, dilation, groups, padding_mode,
                 algorithm, backend, out)


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros", algorithm="auto", backend="auto", out=None):
    return _conv(3, x, weight, bias, stride, padding, dilation, groups, padding_mode,
                 algorithm, backend, out)


for _f, _nd, _sp, _ks, _osp, _x, _w, _o in (
    (conv1d, 1, "L", "k", "L_out", "(1, 2, 8)", "(4, 2, 3)", "(1, 4, 8)"),
    (conv2d, 2, "H, W", "kh, kw", "H_out, W_out", "(1, 2, 8, 8)", "(4, 2, 3, 3)",
     "(1, 4, 8, 8)"),
    (conv3d, 3, "D, H, W", "kd, kh, kw", "D_out, H_out, W_out", "(1, 2, 4, 4, 4)",
     "(4, 2, 3, 3, 3)", "(1, 4, 4, 4, 4)"),
):
    _f.__doc__ = _DOC.format(nd=_nd, sp=_sp, ks=_ks, osp=_osp, ex_x=_x, ex_w=_w, ex_out=_o)
