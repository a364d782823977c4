"""Plain NumPy float64 references of the backward passes and transposed convolution.

Written from the definitions, independently of the fast code paths:

* the input gradient scatters ``grad_output * weight`` tap by tap into the padded
  input (one strided slice per tap), then folds the padding back onto the input
  with :func:`pad_adjoint` (the adjoint of ``np.pad`` for the padding mode);
* the weight gradient contracts the padded input's windows with ``grad_output``;
* ``conv_transpose`` is the input gradient of the convolution it transposes.
"""

from __future__ import annotations

import itertools

import numpy as np

from .._spec import NP_PAD_MODE, conv_spec, int_tuple
from .conv import _windows

__all__ = ["conv_backward", "conv_transpose", "conv_transpose_backward", "pad_adjoint"]


def pad_adjoint(g, pad, mode="zeros"):
    """Adjoint of ``np.pad(x, ((0, 0), (0, 0)) + pad, mode=NP_PAD_MODE[mode])``.

    ``g`` has the padded shape; the result has the unpadded shape and satisfies
    ``<np.pad(x), g> == <x, pad_adjoint(g)>`` for every ``x``.  Every padded
    position adds its value onto the input position ``np.pad`` copied it from.
    """
    g = np.asarray(g, dtype=np.float64)
    out = g
    for ax, (a, b) in enumerate(pad):
        axis = 2 + ax
        Lp = out.shape[axis]
        L = Lp - a - b
        src = np.pad(np.arange(L), (a, b), mode=NP_PAD_MODE[mode]) if mode != "zeros" else None
        res = np.zeros(out.shape[:axis] + (L,) + out.shape[axis + 1:])
        for j in range(Lp):
            if mode == "zeros":
                if a <= j < a + L:
                    res[(slice(None),) * axis + (j - a,)] += out[(slice(None),) * axis + (j,)]
            else:
                res[(slice(None),) * axis + (src[j],)] += out[(slice(None),) * axis + (j,)]
        out = res
    return out


def conv_backward(grad_output, x, w, stride=1, padding=0, dilation=1, groups=1,
                  padding_mode="zeros"):
    """(grad_input, grad_weight, grad_bias) of ``reference.conv`` (float64)."""
    x = np.asarray(x)
    w = np.asarray(w)
    nd = w.ndim - 2
    spec = conv_spec(nd, x.shape, w.shape, None, stride, padding, dilation, groups,
                     padding_mode, x.dtype, w.dtype)
    go = np.asarray(grad_output, dtype=np.float64).reshape(
        (spec.batch, spec.out_channels) + spec.out_size)
    x64 = x.astype(np.float64).reshape(spec.x_shape)
    w64 = w.astype(np.float64)
    G, cg, og = spec.groups, spec.in_per_group, spec.out_per_group
    # input gradient w.r.t. the padded input, tap by tap
    gxp = np.zeros((spec.batch, spec.in_channels) + spec.padded_size)
    for k in itertools.product(*[range(kk) for kk in spec.kernel]):
        sl = tuple(
            slice(kk * d, kk * d + (o - 1) * s + 1, s)
            for kk, d, o, s in zip(k, spec.dilation, spec.out_size, spec.stride, strict=True)
        )
        for g in range(G):
            contrib = np.einsum("no...,oc->nc...", go[:, g * og:(g + 1) * og],
                                w64[(slice(g * og, (g + 1) * og), slice(None)) + k])
            gxp[(slice(None), slice(g * cg, (g + 1) * cg)) + sl] += contrib
    gx = pad_adjoint(gxp, spec.pad, spec.padding_mode)
    # weight gradient: windows of the padded input against grad_output
    xp = np.pad(x64, ((0, 0), (0, 0)) + spec.pad, mode=NP_PAD_MODE[spec.padding_mode])
    win = _windows(xp, nd, spec.kernel, spec.stride, spec.dilation)
    win = win[(slice(None), slice(None)) + tuple(slice(0, o) for o in spec.out_size)]
    letters = "defghi"[:nd]
    klet = "pqrstu"[:nd]
    gws = []
    for g in range(G):
        gws.append(np.einsum(f"nc{letters}{klet},no{letters}->oc{klet}",
                             win[:, g * cg:(g + 1) * cg], go[:, g * og:(g + 1) * og]))
    gw = np.concatenate(gws, axis=0)
    gb = go.sum(axis=(0,) + tuple(range(2, 2 + nd)))
    if not spec.batched:
        gx = gx[0]
    return gx, gw, gb


def _transpose_args(x, w, stride, padding, output_padding, dilation):
    nd = w.ndim - 2
    stride = int_tuple(stride, nd, "stride")
    dilation = int_tuple(dilation, nd, "dilation")
    padding = int_tuple(padding, nd, "padding", minimum=0)
    output_padding = int_tuple(output_padding, nd, "output_padding", minimum=0)
    L = x.shape[-nd:]
    out = tuple(
        (l - 1) * s - 2 * p + d * (k - 1) + op + 1
        for l, s, p, d, k, op in zip(L, stride, padding, dilation, w.shape[2:],
                                     output_padding, strict=True)
    )
    return nd, stride, dilation, padding, out


def conv_transpose(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1,
                   dilation=1):
    """``torch.nn.functional.conv_transpose*d`` in float64, by scattering taps."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    nd, stride, dilation, padding, out = _transpose_args(x, w, stride, padding,
                                                         output_padding, dilation)
    batched = x.ndim == nd + 2
    xb = x if batched else x[None]
    N, Cin = xb.shape[:2]
    G = groups
    cin_g = Cin // G
    cout_g = w.shape[1]
    full = tuple(o + 2 * p for o, p in zip(out, padding, strict=True))
    y = np.zeros((N, cout_g * G) + full)
    for k in itertools.product(*[range(kk) for kk in w.shape[2:]]):
        sl = tuple(
            slice(kk * d, kk * d + (l - 1) * s + 1, s)
            for kk, d, l, s in zip(k, dilation, xb.shape[2:], stride, strict=True)
        )
        for g in range(G):
            contrib = np.einsum("nc...,co->no...", xb[:, g * cin_g:(g + 1) * cin_g],
                                w[(slice(g * cin_g, (g + 1) * cin_g), slice(None)) + k])
            y[(slice(None), slice(g * cout_g, (g + 1) * cout_g)) + sl] += contrib
    y = y[(slice(None), slice(None))
          + tuple(slice(p, p + o) for p, o in zip(padding, out, strict=True))]
    if b is not None:
        y = y + np.asarray(b, dtype=np.float64).reshape((1, -1) + (1,) * nd)
    return y if batched else y[0]


def conv_transpose_backward(grad_output, x, w, stride=1, padding=0, output_padding=0,
                            groups=1, dilation=1):
    """(grad_input, grad_weight, grad_bias) of :func:`conv_transpose` (float64).

    ``conv_transpose`` is linear in ``x``: its input gradient is the forward
    convolution of ``grad_output`` with the same weight, and its weight
    gradient is the conv weight gradient with the roles of ``x`` and
    ``grad_output`` exchanged.
    """
    from .conv import conv

    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    go = np.asarray(grad_output, dtype=np.float64)
    nd, stride, dilation, padding, out = _transpose_args(x, w, stride, padding,
                                                         output_padding, dilation)
    batched = x.ndim == nd + 2
    xb = x if batched else x[None]
    gob = go if batched else go[None]
    gx = conv(gob, w, None, stride, padding, dilation, groups)
    gx = gx[(slice(None), slice(None)) + tuple(slice(0, l) for l in xb.shape[2:])]
    # weight gradient: d y[n, o, p*s + k*d - pad] / d w[c, o, k] = x[n, c, p]
    G = groups
    cin_g = xb.shape[1] // G
    cout_g = w.shape[1]
    gw = np.zeros(w.shape)
    tail = tuple((p, p + d * (k - 1) + s)
                 for p, d, k, s in zip(padding, dilation, w.shape[2:], stride, strict=True))
    gpad = np.pad(gob, ((0, 0), (0, 0)) + tail)
    for k in itertools.product(*[range(kk) for kk in w.shape[2:]]):
        sl = tuple(
            slice(kk * d, kk * d + (l - 1) * s + 1, s)
            for kk, d, l, s in zip(k, dilation, xb.shape[2:], stride, strict=True)
        )
        for g in range(G):
            ax = [0] + list(range(2, 2 + nd))
            gw[(slice(g * cin_g, (g + 1) * cin_g), slice(None)) + k] = np.tensordot(
                xb[:, g * cin_g:(g + 1) * cin_g],
                gpad[(slice(None), slice(g * cout_g, (g + 1) * cout_g)) + sl], (ax, ax))
    gb = gob.sum(axis=(0,) + tuple(range(2, 2 + nd)))
    return (gx if batched else gx[0]), gw, gb
