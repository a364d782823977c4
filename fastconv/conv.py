"""Convolution layers: ``conv1d``, ``conv2d``, ``conv3d`` (PyTorch semantics).

Each public function is a thin wrapper: normalise once (``_spec.conv_spec``),
plan (``plan.make_plan``), convert the arrays once, run the planned algorithm.
"""

from __future__ import annotations

import numpy as np

from . import algorithms
from ._alloc import empty_result
from ._spec import (
    NP_PAD_MODE,
    ConvSpec,
    as_array,
    check_choice,
    check_out,
    conv_spec,
    to_compute,
)
from .plan import Plan, _record, make_plan

__all__ = ["conv1d", "conv2d", "conv3d", "prepare_weight", "PreparedWeight", "conv_separable"]


def _prepare_input(spec: ConvSpec, x: np.ndarray) -> tuple[ConvSpec, np.ndarray]:
    """Compute-dtype, C-contiguous (N, C, *spatial) input; non-zero padding modes
    materialised with ``np.pad`` (the result's spec then has zero padding)."""
    xs = to_compute(x, spec.dtype).reshape(spec.x_shape)
    if spec.zero_padded():
        return spec, xs
    xs = np.pad(xs, ((0, 0), (0, 0)) + spec.pad, mode=NP_PAD_MODE[spec.padding_mode])
    return spec.after_explicit_padding(), xs


def _run(spec: ConvSpec, plan: Plan, x, w, b, out=None, packed=None,
         activation=None) -> np.ndarray:
    """Run ``plan`` on validated arrays; returns the (N, Co, *out) compute-dtype result.

    ``out`` (optional) is a C-contiguous compute-dtype buffer of that shape;
    ``packed`` the algorithm's prepared weight (``pack_weight``), if any.
    """
    run_spec, xs = _prepare_input(spec, x)
    ws = to_compute(w, spec.dtype)
    bs = to_compute(b, spec.dtype) if b is not None else np.zeros(1, spec.dtype)
    res_shape = (spec.batch, spec.out_channels) + spec.out_size
    if out is None:  # a large one on a 64-byte line: it can be streamed out
        out = empty_result(res_shape, spec.dtype)
    if spec.batch:
        algorithms.get(plan.algorithm).forward(run_spec, plan, xs, ws, bs, out, packed)
    if activation is not None:  # fused: in place on the fresh result, before any cast
        from .activations import apply_inplace

        apply_inplace(activation, out)
    _record(plan)
    return out


def _conv(nd, x, weight, bias, stride, padding, dilation, groups, padding_mode, algorithm,
          backend, out, tolerance=None, activation=None):
    if activation is not None:
        from .activations import ACTIVATIONS

        check_choice(activation, "activation", ACTIVATIONS)
    prepared = weight if isinstance(weight, PreparedWeight) else None
    x = as_array(x, "x")
    weight = prepared.weight if prepared is not None else as_array(weight, "weight")
    bias = None if bias is None else as_array(bias, "bias")
    spec = conv_spec(
        nd, x.shape, weight.shape, None if bias is None else bias.shape, stride, padding,
        dilation, groups, padding_mode, x.dtype, weight.dtype,
        None if bias is None else bias.dtype,
    )
    packed = None
    if prepared is not None and prepared.matches(spec, algorithm, backend):
        plan, packed = prepared.plan, prepared.packed
    else:
        plan = make_plan(spec, algorithm, backend, weight=weight, tolerance=tolerance)
    return _execute(spec, plan, x, weight, bias, out, packed, activation)


def _execute(spec, plan, x, weight, bias, out=None, packed=None, activation=None):
    """Run a plan and deliver the public result: into ``out`` (validated; written
    in place when it is a C-contiguous compute-dtype buffer no input aliases), or
    as a new array in the result dtype (unbatched if the input was)."""
    direct_out = None
    if out is not None:
        check_out(out, spec.out_shape, spec.result_dtype)
        if (out.dtype == spec.dtype and out.flags.c_contiguous and not any(
                np.may_share_memory(out, a) for a in (x, weight, bias) if a is not None)):
            direct_out = out.reshape((spec.batch, spec.out_channels) + spec.out_size)
    res = _run(spec, plan, x, weight, bias, direct_out, packed, activation)
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
tolerance : float, optional
    Largest acceptable relative error for ``algorithm="auto"`` (default 1e-3 for
    float32, 1e-9 for float64); see :func:`fastconv.plan_conv`.
activation : {{None, "relu", "sigmoid", "tanh"}}
    Applied in place to the result right after the convolution (bias included),
    so inference makes no separate pass over a temporary.

``weight`` may also be a :class:`PreparedWeight` from :func:`prepare_weight`: its
transformed/packed form is reused when the call matches the prepared case.

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
           padding_mode="zeros", algorithm="auto", backend="auto", out=None, tolerance=None,
           activation=None):
    return _conv(1, x, weight, bias, stride, padding, dilation, groups, padding_mode,
                 algorithm, backend, out, tolerance, activation)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros", algorithm="auto", backend="auto", out=None, tolerance=None,
           activation=None):
    return _conv(2, x, weight, bias, stride, padding, dilation, groups, padding_mode,
                 algorithm, backend, out, tolerance, activation)


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           padding_mode="zeros", algorithm="auto", backend="auto", out=None, tolerance=None,
           activation=None):
    return _conv(3, x, weight, bias, stride, padding, dilation, groups, padding_mode,
                 algorithm, backend, out, tolerance, activation)


for _f, _nd, _sp, _ks, _osp, _x, _w, _o in (
    (conv1d, 1, "L", "k", "L_out", "(1, 2, 8)", "(4, 2, 3)", "(1, 4, 8)"),
    (conv2d, 2, "H, W", "kh, kw", "H_out, W_out", "(1, 2, 8, 8)", "(4, 2, 3, 3)",
     "(1, 4, 8, 8)"),
    (conv3d, 3, "D, H, W", "kd, kh, kw", "D_out, H_out, W_out", "(1, 2, 4, 4, 4)",
     "(4, 2, 3, 3, 3)", "(1, 4, 4, 4, 4)"),
):
    _f.__doc__ = _DOC.format(nd=_nd, sp=_sp, ks=_ks, osp=_osp, ex_x=_x, ex_w=_w, ex_out=_o)


# ---------------------------------------------------------------------------
# weights prepared ahead of time (inference: transform once per model)
# ---------------------------------------------------------------------------
class PreparedWeight:
    """A weight planned and packed once for one convolution case.

    Create with :func:`prepare_weight`; pass it as ``weight`` to ``conv{1,2,3}d``.
    When the call has the same case (shapes, arguments, dtype) and asks for the
    same (or ``"auto"``) algorithm and backend, the stored plan and the packed
    weight (Winograd-domain weights, FFT spectra, separable factors) are used
    directly; otherwise the raw weight is planned as usual, so a prepared weight
    is always safe to pass.

    Attributes
    ----------
    weight : ndarray
        The raw weight (a private copy in the compute dtype).
    plan : Plan
        The plan it was prepared for.
    packed : object or None
        The algorithm's packed weight (None for algorithms that need none).
    """

    def __init__(self, weight, plan, packed, threads):
        self.weight = weight
        self.plan = plan
        self.packed = packed
        self._threads = threads

    @property
    def shape(self):
        return self.weight.shape

    @property
    def dtype(self):
        return self.weight.dtype

    def matches(self, spec, algorithm: str, backend: str) -> bool:
        from .threads import get_num_threads

        p = self.plan
        return (
            p.spec.key() == spec.key() and p.spec.has_bias == spec.has_bias
            and p.spec.batched == spec.batched and algorithm in ("auto", p.algorithm)
            and backend in ("auto", p.backend) and get_num_threads() == self._threads
        )

    def __repr__(self) -> str:
        return (f"PreparedWeight(shape={self.weight.shape}, algorithm={self.plan.algorithm!r},"
                f" backend={self.plan.backend!r})")


def prepare_weight(weight, x_shape, bias=False, stride=1, padding=0, dilation=1, groups=1, *,
                   padding_mode="zeros", algorithm="auto", backend="auto", tolerance=None,
                   dtype=None) -> PreparedWeight:
    """Plan and pack ``weight`` once for inputs of shape ``x_shape``.

    Parameters
    ----------
    weight : array_like, shape (C_out, C_in // groups, *kernel)
    x_shape : tuple of int
        The input shape the layer will see (batched or not).
    bias : bool
        Whether the calls pass a bias.
    stride, padding, dilation, groups, padding_mode, algorithm, backend, tolerance
        As in :func:`conv2d`.
    dtype : dtype-like, optional
        dtype of the inputs (default: the weight's).

    Returns
    -------
    PreparedWeight

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> w = np.random.rand(16, 8, 3, 3).astype(np.float32)
    >>> pw = fc.prepare_weight(w, (4, 8, 32, 32), padding=1)
    >>> x = np.random.rand(4, 8, 32, 32).astype(np.float32)
    >>> np.allclose(fc.conv2d(x, pw, padding=1), fc.conv2d(x, w, padding=1), atol=1e-4)
    True
    """
    from .threads import get_num_threads

    w = as_array(weight, "weight")
    nd = w.ndim - 2
    if nd not in (1, 2, 3):
        raise ValueError(f"weight must have 3, 4 or 5 dimensions, got shape {w.shape}")
    xdt = np.dtype(dtype) if dtype is not None else w.dtype
    spec = conv_spec(nd, x_shape, w.shape, (w.shape[0],) if bias else None, stride, padding,
                     dilation, groups, padding_mode, xdt, w.dtype, w.dtype if bias else None)
    with algorithms.get("winograd").for_prepared():  # no per-call weight transform
        plan = make_plan(spec, algorithm, backend, weight=w, tolerance=tolerance)
    wc = np.array(w, dtype=spec.dtype, order="C")  # private copy
    mod = algorithms.get(plan.algorithm)
    run_spec = spec if spec.zero_padded() else spec.after_explicit_padding()
    packed = mod.pack_weight(run_spec, plan, wc) if hasattr(mod, "pack_weight") else None
    return PreparedWeight(wc, plan, packed, get_num_threads())


def conv_separable(x, factors, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
                   padding_mode="zeros", backend="auto", out=None):
    """Convolution with a kernel given by its rank-1 factors (one 1-D pass per axis).

    Equivalent to ``conv{nd}d(x, w, ...)`` with ``w[o, c] = outer(f_0[o, c], f_1[o, c], ...)``,
    at ``sum(k)`` instead of ``prod(k)`` multiply-adds per output.

    Parameters
    ----------
    x : array_like, shape (N, C_in, *spatial) or (C_in, *spatial)
    factors : sequence of ``nd`` arrays
        One per spatial axis, each of shape (C_out, C_in // groups, k_a), or 1-D
        ``(k_a,)`` for a single-channel filter (C_in = C_out = 1).
    bias, stride, padding, dilation, groups, padding_mode, backend, out
        As in :func:`conv2d`.

    Returns
    -------
    ndarray

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> g = np.array([1., 4., 6., 4., 1.]) / 16            # binomial blur
    >>> img = np.random.rand(1, 64, 64)
    >>> y = fc.conv_separable(img, (g, g), padding=2)
    >>> np.allclose(y, fc.conv2d(img, np.outer(g, g)[None, None], padding=2))
    True
    """
    facs = [as_array(f, f"factors[{i}]") for i, f in enumerate(factors)]
    nd = len(facs)
    if nd not in (1, 2, 3):
        raise ValueError(f"factors must hold 1, 2 or 3 arrays (one per spatial axis), got {nd}")
    facs = [f.reshape(1, 1, -1) if f.ndim == 1 else f for f in facs]
    for i, f in enumerate(facs):
        if f.ndim != 3 or f.shape[:2] != facs[0].shape[:2]:
            raise ValueError(
                f"factors[{i}] must have shape (C_out, C_in // groups, k) matching "
                f"factors[0]'s {facs[0].shape[:2]}, got {f.shape}")
    wshape = facs[0].shape[:2] + tuple(f.shape[2] for f in facs)
    x = as_array(x, "x")
    bias = None if bias is None else as_array(bias, "bias")
    spec = conv_spec(nd, x.shape, wshape, None if bias is None else bias.shape, stride,
                     padding, dilation, groups, padding_mode, x.dtype, facs[0].dtype,
                     None if bias is None else bias.dtype)
    plan = make_plan(spec, "separable", backend)
    packed = tuple(np.asarray(f, dtype=np.float64) for f in facs)
    w = np.zeros((1,) * (nd + 2), spec.dtype)  # unused: the factors are the weight
    return _execute(spec, plan, x, w, bias, out, packed)
