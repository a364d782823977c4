"""Layers between dense and convolutional: unshared (locally connected) and tiled
convolution, forward and backward.

* ``local_conv1d/2d(x, weight, bias=None, stride=1, padding=0)``: a separate
  kernel for every output position, ``weight`` of shape
  ``(C_out, *out_spatial, C_in, *kernel)`` (the notes' ``W[i, j, k, l, m, n]``:
  output channel, output position, input channel, kernel offset).
* ``tiled_conv2d(x, weight, bias=None, stride=1, padding=0)``: ``weight`` of shape
  ``(tile_h, tile_w, C_out, C_in, kh, kw)``; output position ``(i, j)`` uses
  kernel ``weight[i % tile_h, j % tile_w]``.  ``tile = (1, 1)`` is ``conv2d``;
  ``tile = output size`` is ``local_conv2d``.

All of them are cross-correlations (the layer convention) with zero padding,
computed as one GEMM per "tile class" (the output positions sharing a kernel)
between compiled gather/scatter loops (``fastconv/kernels/{numba,cython}/local``,
see ``_forward``).  Backward functions return ``ConvGrads(input, weight, bias)``
like ``conv2d_backward``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import _config, kernels
from ._spec import (
    as_array,
    check_choice,
    compute_dtype,
    int_tuple,
    out_size_1,
    parse_padding,
    to_compute,
)
from .backward import ConvGrads
from .threads import get_num_threads

__all__ = [
    "local_conv1d", "local_conv2d", "tiled_conv2d",
    "local_conv1d_backward", "local_conv2d_backward", "tiled_conv2d_backward",
]

NEEDS = ("input", "weight", "bias")


@dataclass(frozen=True)
class LocalSpec:
    """One unshared/tiled convolution, normalised once.  Spatial tuples are 2-D
    (1-D layers have a leading unit axis)."""

    nd: int
    batch: int
    in_channels: int
    out_channels: int
    in_size: tuple
    kernel: tuple
    stride: tuple
    pad: tuple  # ((before, after), (before, after))
    out_size: tuple
    tile: tuple
    dtype: np.dtype
    result_dtype: np.dtype
    batched: bool
    bias: str  # "none" | "channel" (C_out,) | "position" (C_out, *out)

    @property
    def x_shape(self):
        return (self.batch, self.in_channels) + self.in_size

    @property
    def res_shape(self):
        return (self.batch, self.out_channels) + self.out_size

    @property
    def out_shape(self):
        sp = self.out_size[2 - self.nd:]
        return ((self.batch,) if self.batched else ()) + (self.out_channels,) + sp

    @property
    def flops(self):
        return (2 * self.batch * self.out_channels * math.prod(self.out_size)
                * self.in_channels * math.prod(self.kernel))


def _spec(nd, kind, x_shape, w_shape, bias_shape, stride, padding, dtypes):
    """kind: "local" or "tiled"."""
    name = f"local_conv{nd}d" if kind == "local" else "tiled_conv2d"
    x_shape = tuple(int(s) for s in x_shape)
    w_shape = tuple(int(s) for s in w_shape)
    if len(x_shape) == nd + 2:
        batched = True
    elif len(x_shape) == nd + 1:
        batched, x_shape = False, (1,) + x_shape
    else:
        raise ValueError(
            f"x must have {nd + 2} (batched: N, C_in, *spatial) or {nd + 1} (unbatched) "
            f"dimensions for {name}, got shape {x_shape[1:] if not batched else x_shape}"
        )
    N, C = x_shape[:2]
    in_size = x_shape[2:]
    if kind == "local":
        if len(w_shape) != 2 * nd + 2:
            raise ValueError(
                f"weight must have {2 * nd + 2} dimensions (C_out, *out_spatial[{nd}], C_in, "
                f"*kernel[{nd}]) for {name}, got shape {w_shape}"
            )
        Co = w_shape[0]
        w_out = w_shape[1:1 + nd]
        Ci = w_shape[1 + nd]
        kernel = w_shape[2 + nd:]
    else:
        if len(w_shape) != 6:
            raise ValueError(
                f"weight must have 6 dimensions (tile_h, tile_w, C_out, C_in, kh, kw) for "
                f"tiled_conv2d, got shape {w_shape}"
            )
        tile = w_shape[:2]
        Co, Ci = w_shape[2:4]
        kernel = w_shape[4:]
    if Ci != C:
        raise ValueError(
            f"weight shape {w_shape} expects C_in={Ci} input channels, but x has C_in={C} "
            f"(x shape {x_shape if batched else x_shape[1:]})"
        )
    if Co < 1 or any(k < 1 for k in kernel):
        raise ValueError(f"weight must have C_out >= 1 and kernel sizes >= 1, got shape {w_shape}")
    stride = int_tuple(stride, nd, "stride")
    pad = parse_padding(padding, nd, in_size, kernel, stride, (1,) * nd)
    out = tuple(out_size_1(L, p, k, s, 1)
                for L, p, k, s in zip(in_size, pad, kernel, stride, strict=True))
    if any(o < 1 for o in out):
        raise ValueError(
            f"output would be empty: input spatial size {in_size} with padding {pad} is "
            f"smaller than the kernel {kernel}"
        )
    if kind == "local":
        if w_out != out:
            raise ValueError(
                f"weight shape {w_shape} has out_spatial {w_out}, but the output of x "
                f"spatial {in_size} with kernel {kernel}, stride {stride}, padding {pad} "
                f"is {out}"
            )
        tile = out if nd == 2 else (1,) + out
    else:
        if any(t < 1 for t in tile):
            raise ValueError(f"tile sizes must be >= 1, got weight shape {w_shape}")
    bias = "none"
    if bias_shape is not None:
        bias_shape = tuple(bias_shape)
        if bias_shape == (Co,):
            bias = "channel"
        elif kind == "local" and bias_shape == (Co,) + out:
            bias = "position"
        else:
            allowed = f"({Co},)" + (f" or {(Co,) + out}" if kind == "local" else "")
            raise ValueError(f"bias must have shape {allowed}, got {bias_shape}")
    cdt, rdt = compute_dtype(*dtypes)
    if nd == 1:
        in_size, kernel, stride, out = (1,) + in_size, (1,) + kernel, (1,) + stride, (1,) + out
        pad = ((0, 0),) + pad
    return LocalSpec(
        nd=nd, batch=N, in_channels=C, out_channels=Co, in_size=in_size, kernel=kernel,
        stride=stride, pad=pad, out_size=out, tile=tuple(tile), dtype=cdt, result_dtype=rdt,
        batched=batched, bias=bias,
    )


def _backend(backend):
    check_choice(backend, "backend", ("auto", "numba", "cython"))
    if backend == "auto":
        return "cython" if kernels.available("cython") else "numba"
    return backend


def _threads(spec):
    return 1 if spec.flops < _config.PARALLEL_MIN_FLOPS else get_num_threads()


# ---------------------------------------------------------------------------
# the algorithm: one GEMM per tile class
# ---------------------------------------------------------------------------
# Output positions that share a kernel form a "tile class" (th, tw): the
# positions (i * TH + th, j * TW + tw).  For each class the layer is a plain
# matrix product: patches (samples x positions, C * KH * KW) times the class's
# kernel (C * KH * KW, C_out).  All classes go through one batched ``matmul``
# (BLAS), between two compiled loops: ``tiled_im2col`` (gather the patches) and
# ``tiled_col2im`` (scatter patch gradients back).  A locally connected layer
# has one position per class (GEMMs with ``N`` rows); a 1x1 tile one class
# holding every position (one large GEMM, as im2col convolution).  Samples are
# processed in chunks so that the patch buffer stays below
# ``_config.WORKSPACE_LIMIT`` (at least one sample per chunk).
def _geometry(spec):
    TH, TW = spec.tile
    OH, OW = spec.out_size
    PH, PW = -(-OH // TH), -(-OW // TW)
    CK = spec.in_channels * math.prod(spec.kernel)
    return TH, TW, OH, OW, PH, PW, CK


def _chunk(spec):
    TH, TW, OH, OW, PH, PW, CK = _geometry(spec)
    per_sample = TH * TW * PH * PW * CK * spec.dtype.itemsize
    return max(1, min(spec.batch, _config.WORKSPACE_LIMIT // max(per_sample, 1)))


def _class_weight(spec, w, kind):
    """(TH * TW, C_out, C * KH * KW) view of the weight, per tile class."""
    TH, TW, OH, OW, PH, PW, CK = _geometry(spec)
    Co = spec.out_channels
    ws = to_compute(w, spec.dtype)
    if kind == "local":  # (Co, OH, OW, C, KH, KW): class = position
        return ws.reshape(Co, TH * TW, CK).transpose(1, 0, 2)
    return ws.reshape(TH * TW, Co, CK)  # (TH, TW, Co, C, KH, KW)


def _to_classes(spec, g):
    """(nb, Co, OH, OW) -> (TH * TW, nb * PH * PW, Co), zero rows past the output."""
    TH, TW, OH, OW, PH, PW, CK = _geometry(spec)
    nb, Co = g.shape[:2]
    if (PH * TH, PW * TW) != (OH, OW):
        gp = np.zeros((nb, Co, PH * TH, PW * TW), g.dtype)
        gp[:, :, :OH, :OW] = g
        g = gp
    g = g.reshape(nb, Co, PH, TH, PW, TW).transpose(3, 5, 0, 2, 4, 1)
    return np.ascontiguousarray(g).reshape(TH * TW, nb * PH * PW, Co)


def _from_classes(spec, r, nb):
    """Inverse of :func:`_to_classes`: (TH * TW, nb * PH * PW, Co) -> (nb, Co, OH, OW)."""
    TH, TW, OH, OW, PH, PW, CK = _geometry(spec)
    Co = r.shape[-1]
    r = r.reshape(TH, TW, nb, PH, PW, Co).transpose(2, 5, 3, 0, 4, 1)
    return r.reshape(nb, Co, PH * TH, PW * TW)[:, :, :OH, :OW]


def _split_threads(spec, nb, th):
    """(threads of the compiled loops, threads of BLAS) for one call: never both
    above one (OpenBLAS threads spin after a call and would steal cores from an
    OpenMP region).  Many small per-class GEMMs (locally connected layers) do not
    thread inside BLAS anyway: the loops get the threads.  A few large GEMMs
    (small tiles): BLAS gets them."""
    if th <= 1:
        return 1, 1
    TH, TW, OH, OW, PH, PW, CK = _geometry(spec)
    gemm = nb * PH * PW * CK * spec.out_channels  # multiply-adds of one class's GEMM
    return (th, 1) if gemm < 2**20 else (1, th)


def _matmul(a, b, nthreads):
    """Batched BLAS product with BLAS limited to ``nthreads``."""
    from .threads import blas_threads

    with blas_threads(nthreads):
        return np.matmul(a, b)


def _forward(nd, kind, x, weight, bias, stride, padding, backend):
    x = as_array(x, "x")
    weight = as_array(weight, "weight")
    bias = None if bias is None else as_array(bias, "bias")
    spec = _spec(nd, kind, x.shape, weight.shape, None if bias is None else bias.shape, stride,
                 padding, (x.dtype, weight.dtype, None if bias is None else bias.dtype))
    be = _backend(backend)
    out = np.empty(spec.res_shape, spec.dtype)
    if spec.batch:
        th = _threads(spec)
        TH, TW, OH, OW, PH, PW, CK = _geometry(spec)
        xs = to_compute(x, spec.dtype).reshape(spec.x_shape)
        wt = _class_weight(spec, weight, kind).transpose(0, 2, 1)  # (classes, CK, Co)
        im2col = kernels.get(be, "local", "tiled_im2col")
        pads = tuple(p[0] for p in spec.pad)
        step = _chunk(spec)
        lt, bt = _split_threads(spec, step, th)
        cols = None
        for n0 in range(0, spec.batch, step):
            nb = min(step, spec.batch - n0)
            shape = (TH * TW, nb, PH, PW, spec.in_channels) + spec.kernel
            if cols is None or cols.shape != shape:
                cols = np.empty(shape, spec.dtype)
            im2col(xs, cols, n0, spec.stride, pads, spec.tile, spec.out_size, lt)
            r = _matmul(cols.reshape(TH * TW, nb * PH * PW, CK), wt, bt)
            out[n0:n0 + nb] = _from_classes(spec, r, nb)
        if spec.bias == "channel":
            out += to_compute(bias, spec.dtype).reshape((1, -1, 1, 1))
        elif spec.bias == "position":
            out += to_compute(bias, spec.dtype).reshape((1,) + spec.res_shape[1:])
    return out.reshape(spec.out_shape).astype(spec.result_dtype, copy=False)


def _backward(nd, kind, grad_output, x, weight, stride, padding, needs, bias_shape, backend):
    x = as_array(x, "x")
    weight = as_array(weight, "weight")
    g = as_array(grad_output, "grad_output")
    if isinstance(needs, str):
        needs = (needs,)
    for n in needs:
        check_choice(n, "needs", NEEDS)
    spec = _spec(nd, kind, x.shape, weight.shape, bias_shape, stride, padding,
                 (x.dtype, weight.dtype, g.dtype))
    if g.shape != spec.out_shape:
        raise ValueError(
            f"grad_output must have the forward output's shape {spec.out_shape}, got {g.shape}"
        )
    be = _backend(backend)
    th = _threads(spec)
    pads = tuple(p[0] for p in spec.pad)
    TH, TW, OH, OW, PH, PW, CK = _geometry(spec)
    NCL, C, Co = TH * TW, spec.in_channels, spec.out_channels
    gs = to_compute(g, spec.dtype).reshape(spec.res_shape)
    want_x, want_w = "input" in needs, "weight" in needs
    gx = np.zeros(spec.x_shape, spec.dtype) if want_x else None
    gwc = np.zeros((NCL, Co, CK), spec.dtype) if want_w else None
    if spec.batch and (want_x or want_w):
        xs = to_compute(x, spec.dtype).reshape(spec.x_shape) if want_w else None
        wc = _class_weight(spec, weight, kind) if want_x else None  # (classes, Co, CK)
        im2col = kernels.get(be, "local", "tiled_im2col")
        col2im = kernels.get(be, "local", "tiled_col2im")
        step = _chunk(spec)
        lt, bt = _split_threads(spec, step, th)
        cols = None
        for n0 in range(0, spec.batch, step):
            nb = min(step, spec.batch - n0)
            gc = _to_classes(spec, gs[n0:n0 + nb])  # (classes, nb * PH * PW, Co)
            shape = (NCL, nb, PH, PW, C) + spec.kernel
            if want_w:
                if cols is None or cols.shape != shape:
                    cols = np.empty(shape, spec.dtype)
                im2col(xs, cols, n0, spec.stride, pads, spec.tile, spec.out_size, lt)
                gwc += _matmul(gc.transpose(0, 2, 1), cols.reshape(NCL, nb * PH * PW, CK), bt)
            if want_x:
                dcols = _matmul(gc, wc, bt).reshape(shape)
                col2im(dcols, gx, n0, spec.stride, pads, spec.tile, spec.out_size, lt)
    gw = gb = None
    if want_x:
        gx = gx.reshape(x.shape).astype(spec.result_dtype, copy=False)
    if want_w:
        if kind == "local":
            gw = np.ascontiguousarray(gwc.transpose(1, 0, 2)).reshape(weight.shape)
        else:
            gw = gwc.reshape(weight.shape)
        gw = gw.astype(spec.result_dtype, copy=False)
    if "bias" in needs:
        if spec.bias == "position":
            gb = gs.sum(axis=0).reshape((spec.out_channels,) + spec.out_size[2 - nd:])
        else:
            gb = gs.sum(axis=(0, 2, 3))
        gb = gb.astype(spec.result_dtype, copy=False)
    return ConvGrads(gx, gw, gb)


# ---------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------
def local_conv2d(x, weight, bias=None, stride=1, padding=0, *,
                 backend: str = "auto") -> np.ndarray:
    """Locally connected 2-D layer (unshared convolution): one kernel per output position.

    ``y[n, o, i, j] = b + sum_{c, u, v} weight[o, i, j, c, u, v] * xpad[n, c, i*sh + u, j*sw + v]``

    Parameters
    ----------
    x : array_like, shape (N, C_in, H, W) or (C_in, H, W)
    weight : array_like, shape (C_out, H_out, W_out, C_in, kh, kw)
        ``H_out, W_out`` must be the output size implied by ``x``, the kernel,
        ``stride`` and ``padding``.
    bias : array_like, shape (C_out,) or (C_out, H_out, W_out), optional
        Shared per channel, or unshared (one per output position).
    stride : int or tuple of 2 ints
    padding : int, tuple, (before, after) pairs or "valid"/"same"/"same_lower"/"full"
        Zero padding.
    backend : {"auto", "numba", "cython"}

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out) (unbatched if ``x`` was)

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.ones((1, 2, 5, 5), np.float32)
    >>> w = np.ones((4, 3, 3, 2, 3, 3), np.float32)       # output 3x3
    >>> fc.local_conv2d(x, w).shape
    (1, 4, 3, 3)
    """
    return _forward(2, "local", x, weight, bias, stride, padding, backend)


def local_conv1d(x, weight, bias=None, stride=1, padding=0, *,
                 backend: str = "auto") -> np.ndarray:
    """Locally connected 1-D layer; ``weight`` of shape ``(C_out, L_out, C_in, k)``,
    ``bias`` ``(C_out,)`` or ``(C_out, L_out)``.  See :func:`local_conv2d`.

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.local_conv1d(np.ones((2, 3, 10)), np.ones((5, 8, 3, 3))).shape
    (2, 5, 8)
    """
    return _forward(1, "local", x, weight, bias, stride, padding, backend)


def tiled_conv2d(x, weight, bias=None, stride=1, padding=0, *,
                 backend: str = "auto") -> np.ndarray:
    """Tiled convolution: ``tile_h x tile_w`` kernels that repeat across the output.

    Output position ``(i, j)`` is computed with ``weight[i % tile_h, j % tile_w]``
    (a ``(C_out, C_in, kh, kw)`` kernel), so neighbouring outputs use different
    kernels while the pattern of kernels is shared with period ``tile``.

    Parameters
    ----------
    x : array_like, shape (N, C_in, H, W) or (C_in, H, W)
    weight : array_like, shape (tile_h, tile_w, C_out, C_in, kh, kw)
    bias : array_like, shape (C_out,), optional
    stride, padding, backend
        As in :func:`local_conv2d`.

    Returns
    -------
    ndarray, shape (N, C_out, H_out, W_out)

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> x = np.random.rand(1, 3, 8, 8)
    >>> w = np.random.rand(1, 1, 4, 3, 3, 3)                 # tile (1, 1): conv2d
    >>> np.allclose(fc.tiled_conv2d(x, w), fc.conv2d(x, w[0, 0]))
    True
    """
    return _forward(2, "tiled", x, weight, bias, stride, padding, backend)


_BWD_DOC = """Gradients of :func:`{fwd}` (no autograd: an explicit function).

Parameters
----------
grad_output : array_like
    Gradient of the loss with respect to the forward result (its shape).
x, weight, stride, padding
    The forward arguments.
needs : sequence of {{"input", "weight", "bias"}}
    Which gradients to compute (the others are None).
bias_shape : tuple, optional
    Shape of the forward bias, which sets the shape of the bias gradient
    ({bias_note}); None gives ``(C_out,)``.
backend : {{"auto", "numba", "cython"}}

Returns
-------
ConvGrads
    Named tuple ``(input, weight, bias)``.

Examples
--------
>>> import numpy as np, fastconv as fc
>>> x = np.random.rand(2, 3, 6, 6); w = np.random.rand({ex_w})
>>> y = fc.{fwd}(x, w)
>>> g = fc.{fwd}_backward(np.ones_like(y), x, w)
>>> g.input.shape == x.shape and g.weight.shape == w.shape
True
"""


def local_conv2d_backward(grad_output, x, weight, stride=1, padding=0, *,
                          needs=NEEDS, bias_shape=None, backend: str = "auto") -> ConvGrads:
    return _backward(2, "local", grad_output, x, weight, stride, padding, needs, bias_shape,
                     backend)


def local_conv1d_backward(grad_output, x, weight, stride=1, padding=0, *,
                          needs=NEEDS, bias_shape=None, backend: str = "auto") -> ConvGrads:
    return _backward(1, "local", grad_output, x, weight, stride, padding, needs, bias_shape,
                     backend)


def tiled_conv2d_backward(grad_output, x, weight, stride=1, padding=0, *,
                          needs=NEEDS, bias_shape=None, backend: str = "auto") -> ConvGrads:
    return _backward(2, "tiled", grad_output, x, weight, stride, padding, needs, bias_shape,
                     backend)


local_conv2d_backward.__doc__ = _BWD_DOC.format(
    fwd="local_conv2d", bias_note="``(C_out,)`` or ``(C_out, H_out, W_out)``",
    ex_w="4, 4, 4, 3, 3, 3")
tiled_conv2d_backward.__doc__ = _BWD_DOC.format(
    fwd="tiled_conv2d", bias_note="``(C_out,)``", ex_w="2, 2, 4, 3, 3, 3")
local_conv1d_backward.__doc__ = _BWD_DOC.format(
    fwd="local_conv1d", bias_note="``(C_out,)`` or ``(C_out, L_out)``",
    ex_w="4, 4, 3, 3").replace(
    "x = np.random.rand(2, 3, 6, 6)", "x = np.random.rand(2, 3, 6)")
