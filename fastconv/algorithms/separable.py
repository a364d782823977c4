"""Separable convolution: rank-1 kernels as one 1-D pass per spatial axis.

A kernel ``w[o, c]`` is separable when it is (to a tolerance relative to its
norm) an outer product ``f_0[o, c] x f_1[o, c] x ...``.  Then the convolution is
``nd`` one-dimensional depthwise passes, ``sum_a k_a`` instead of ``prod_a k_a``
multiply-adds per output, run by the direct kernels (both backends):

1. pass along axis 0: each input channel ``c`` of group ``g`` feeds ``C_out/groups``
   intermediate channels (one per output ``o`` of its group), weight ``f_0[o, c]``;
2. passes along the other axes: depthwise on those intermediate channels;
3. sum over the input channels of each group (fixed order), add the bias.

Stride, dilation and zero padding of each axis are applied in that axis' pass.
Detection needs the weight values, so the planner only runs it (an SVD per
kernel) when the separable estimate would beat the other algorithms.  Users with
known factors call :func:`fastconv.conv_separable` directly.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _config
from .._spec import conv_spec
from . import direct

#: relative Frobenius residual under which a kernel counts as rank-1
RANK1_TOL = {4: 1e-6, 8: 1e-12}


def _inter_items(spec) -> int:
    return spec.batch * spec.in_channels * spec.out_per_group * math.prod(
        max(o, L) for o, L in zip(spec.out_size, spec.padded_size, strict=True))


def supports(spec) -> str | None:
    if _inter_items(spec) * spec.dtype.itemsize > 8 * _config.WORKSPACE_LIMIT:
        return "the intermediate (one plane per input/output channel pair) is too large"
    return None


def accepts(spec, w) -> str | None:
    """Value-level check: None when every kernel of ``w`` is rank-1."""
    if w is None:
        return None
    # early exit: a weight whose first kernel is not rank-1 costs one tiny SVD
    # (this check runs on every call where separable ranks first)
    if factorize(np.asarray(w)[:1, :1], spec.nd) is not None and factorize(w, spec.nd) is not None:
        return None
    return "the kernel is not separable (not rank-1 within the tolerance relative to its norm)"


def factorize(w: np.ndarray, nd: int):
    """Rank-1 factors of every kernel of ``w (Co, Cg, *k)``, or None.

    Higher-order SVD: the leading singular vector of each mode unfolding; the
    scale goes into the first factor.  Returns a tuple of ``nd`` arrays of shape
    (Co, Cg, k_a) with ``w ~= outer(f_0, f_1, ...)`` per (o, c).
    """
    w64 = np.asarray(w, dtype=np.float64)
    Co, Cg = w64.shape[:2]
    kernel = w64.shape[2:]
    flat = w64.reshape(Co * Cg, *kernel)
    vecs = []
    for a in range(nd):
        unf = np.moveaxis(flat, 1 + a, 1).reshape(Co * Cg, kernel[a], -1)
        u, s, vt = np.linalg.svd(unf, full_matrices=False)
        vecs.append(u[:, :, 0])
    # core scalar: contract w with every unit vector
    lam = flat
    for a in range(nd):
        lam = np.einsum("pk...,pk->p...", lam, vecs[a])
    rec = lam.reshape(-1, *([1] * nd)) * np.ones_like(flat)
    for a in range(nd):
        shape = [Co * Cg] + [1] * nd
        shape[1 + a] = kernel[a]
        rec = rec * vecs[a].reshape(shape)
    norm = np.sqrt((flat ** 2).sum())
    tol = RANK1_TOL.get(np.dtype(w.dtype).itemsize, 1e-12) if w.dtype.kind == "f" else 1e-12
    if np.sqrt(((flat - rec) ** 2).sum()) > tol * max(norm, np.finfo(float).tiny):
        return None
    facs = [v.copy() for v in vecs]
    facs[0] = facs[0] * lam.reshape(-1, 1)
    return tuple(f.reshape(Co, Cg, kernel[a]) for a, f in enumerate(facs))


def options(spec, threads: int) -> dict:
    return {}


def _pass_spec(spec, a, in_channels, groups, in_size):
    """Spec of the depthwise pass along axis ``a`` (stride, dilation, padding of
    that axis only; every other axis untouched)."""
    nd = spec.nd
    one = lambda v, dflt: tuple(v[i] if i == a else dflt for i in range(nd))  # noqa: E731
    co = spec.in_channels * spec.out_per_group
    return conv_spec(
        nd, (spec.batch, in_channels) + tuple(in_size), (co, 1) + one(spec.kernel, 1), None,
        one(spec.stride, 1), one(spec.pad, (0, 0)), one(spec.dilation, 1), groups, "zeros",
        spec.dtype, spec.dtype,
    )


def _passes(spec):
    """The chain of pass specs: axis 0 widens C -> C x cog channels, then depthwise."""
    C, co = spec.in_channels, spec.in_channels * spec.out_per_group
    size, chans, out = spec.in_size, C, []
    for a in range(spec.nd):
        sub = _pass_spec(spec, a, chans, C if a == 0 else co, size)
        out.append(sub)
        size, chans = sub.out_size, co
    return out


def estimate(spec, threads: int) -> tuple[float, int]:
    t = sum(direct.estimate(sub, threads)[0] for sub in _passes(spec))
    return t, _inter_items(spec) * spec.dtype.itemsize * 2


def pack_weight(spec, plan, w):
    facs = factorize(w, spec.nd)
    if facs is None:
        raise ValueError(accepts(spec, w))
    return facs


def _axis_weight(f, G, cig, cog, dtype):
    """(Co, Cg, k) factor -> (C * cog, k), row c*cog + j for output o = g*cog + j."""
    return np.ascontiguousarray(
        f.reshape(G, cog, cig, -1).transpose(0, 2, 1, 3).reshape(G * cig * cog, -1), dtype)


def forward(spec, plan, x, w, b, out, packed=None) -> None:
    from dataclasses import replace

    facs = packed if packed is not None else pack_weight(spec, plan, w)
    nd = spec.nd
    G, cig, cog = spec.groups, spec.in_per_group, spec.out_per_group
    cur = x
    for a, sub in enumerate(_passes(spec)):
        wa = _axis_weight(facs[a], G, cig, cog, spec.dtype).reshape(sub.w_shape)
        nxt = np.empty((sub.batch, sub.out_channels) + sub.out_size, spec.dtype)
        p = replace(plan, algorithm="direct", spec=sub, flops=sub.flops,
                    options=direct.options(sub, plan.threads))
        direct.forward(sub, p, cur, wa, b, nxt)
        cur = nxt
    res = cur.reshape((spec.batch, G, cig, cog) + spec.out_size).sum(axis=2, dtype=spec.dtype)
    out[...] = res.reshape(out.shape)
    if spec.has_bias:
        out += b.reshape((1, -1) + (1,) * nd)
