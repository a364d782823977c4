"""Shape arithmetic of convolution and pooling layers, and receptive fields.

Every output size here is computed by the same normalisation code the
operators run (``fastconv._spec.conv_spec`` / ``pool_spec`` and the transposed
convolution's spec), on zero-size stand-in arrays: one formula, one set of
error messages, no duplicate arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ._spec import _is_int, conv_spec, int_tuple, pool_spec

__all__ = [
    "conv_output_shape", "pool_output_shape", "conv_transpose_output_shape",
    "receptive_field", "ReceptiveField",
]


def _spatial(input_size, name="input_size"):
    if _is_int(input_size):
        return (int(input_size),), True
    if isinstance(input_size, (tuple, list)) and input_size and all(_is_int(v) for v in input_size):
        return tuple(int(v) for v in input_size), False
    raise TypeError(f"{name} must be an int or a non-empty tuple of ints, got {input_size!r}")


def _ret(t, scalar):
    return t[0] if scalar else t


def conv_output_shape(input_size, kernel_size, stride=1, padding=0, dilation=1):
    """Spatial output size of ``conv{1,2,3}d`` (and of any N-d convolution).

    Parameters
    ----------
    input_size : int or tuple of int
        Spatial size of the input (an int for one axis).
    kernel_size, stride, dilation : int or tuple of int
    padding : int, tuple, tuple of (before, after) pairs, or str
        As in :func:`fastconv.conv2d` (``"valid"``, ``"same"``, ``"same_lower"``, ``"full"``).

    Returns
    -------
    int or tuple of int
        ``floor((L + pad_before + pad_after - dilation*(k-1) - 1) / stride) + 1`` per axis
        (an int when ``input_size`` is an int).

    Raises
    ------
    ValueError
        When the output would be empty, as the convolution would.

    Examples
    --------
    >>> import fastconv as fc
    >>> fc.conv_output_shape((224, 224), 7, stride=2, padding=3)
    (112, 112)
    >>> fc.conv_output_shape(10, 3, padding="same", stride=3)
    4
    """
    size, scalar = _spatial(input_size)
    nd = len(size)
    k = int_tuple(kernel_size, nd, "kernel_size")
    spec = conv_spec(nd, (1, 1) + size, (1, 1) + k, None, stride, padding, dilation)
    return _ret(spec.out_size, scalar)


def pool_output_shape(input_size, kernel_size, stride=None, padding=0, dilation=1,
                      ceil_mode=False):
    """Spatial output size of ``max_pool``/``avg_pool``/... (``stride=None``: kernel_size).

    ``ceil_mode=True`` rounds up, the last window having to start inside the
    input or its leading padding (PyTorch's rule); every window must overlap
    the input.

    Examples
    --------
    >>> import fastconv as fc
    >>> fc.pool_output_shape((112, 112), 3, stride=2, padding=1)
    (56, 56)
    >>> fc.pool_output_shape(5, 2, ceil_mode=True)
    3
    """
    size, scalar = _spatial(input_size)
    spec = pool_spec(len(size), (1, 1) + size, kernel_size, stride, padding, dilation,
                     ceil_mode)
    return _ret(spec.out_size, scalar)


def conv_transpose_output_shape(input_size, kernel_size, stride=1, padding=0,
                                output_padding=0, dilation=1):
    """Spatial output size of ``conv_transpose{1,2,3}d``:
    ``(L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1``.

    Examples
    --------
    >>> import fastconv as fc
    >>> fc.conv_transpose_output_shape((56, 56), 3, stride=2, padding=1, output_padding=1)
    (112, 112)
    """
    from .backward import _transpose_spec

    size, scalar = _spatial(input_size)
    nd = len(size)
    k = int_tuple(kernel_size, nd, "kernel_size")
    # zero-memory stand-ins: the transposed convolution's own spec does the arithmetic
    x = np.broadcast_to(np.float32(0), (1, 1) + size)
    w = np.broadcast_to(np.float32(0), (1, 1) + k)
    _, full = _transpose_spec(nd, x, w, None, stride, padding, output_padding, 1, dilation)
    return _ret(full.in_size, scalar)


class ReceptiveField(NamedTuple):
    """Receptive field of one unit after a stack of layers (per spatial axis).

    size : extent in input samples; jump : distance in input samples between
    adjacent output units (product of strides); start : input coordinate of the
    centre of the first output unit's field (input samples at 0, 1, ...; negative
    when padding puts it outside the input).
    """

    size: int | tuple
    jump: int | tuple
    start: float | tuple


def _layer_args(layer, i):
    if isinstance(layer, dict):
        unknown = set(layer) - {"kernel_size", "stride", "padding", "dilation"}
        if unknown or "kernel_size" not in layer:
            raise ValueError(
                f"layers[{i}] must have a 'kernel_size' and optionally 'stride', "
                f"'padding', 'dilation'; got keys {sorted(layer)}"
            )
        return (layer["kernel_size"], layer.get("stride", 1), layer.get("padding", 0),
                layer.get("dilation", 1))
    if _is_int(layer):
        return (layer, 1, 0, 1)
    if isinstance(layer, (tuple, list)) and 1 <= len(layer) <= 4:
        return tuple(layer) + (1, 0, 1)[len(layer) - 1:]
    raise TypeError(
        f"layers[{i}] must be a dict, an int kernel size or a tuple (kernel_size, stride, "
        f"padding, dilation), got {layer!r}"
    )


def _nd_of(args):
    nd = None
    for a in args:
        if isinstance(a, (tuple, list)):
            nd = len(a)
    return nd


def receptive_field(layers: Sequence, *,
                    per_layer: bool = False) -> ReceptiveField | list[ReceptiveField]:
    """Receptive field size, jump and start of a stack of conv/pool layers.

    With ``r`` the field size, ``j`` the jump and ``s`` the start before a layer of
    kernel ``k``, stride ``t``, leading padding ``p`` and dilation ``d``
    (``k_eff = d (k - 1) + 1``)::

        r' = r + (k_eff - 1) j        j' = j t        s' = s + ((k_eff - 1) / 2 - p) j

    Parameters
    ----------
    layers : sequence
        One entry per layer: a dict with ``kernel_size`` and optional ``stride``,
        ``padding`` (int, or ``(before, after)``), ``dilation``; or a tuple
        ``(kernel_size, stride, padding, dilation)`` (trailing entries optional);
        or an int kernel size. Entries may be per-axis tuples (then every
        result is a per-axis tuple). Pooling layers are described the same way.
    per_layer : bool
        Return the list of fields after each layer instead of the last one.

    Returns
    -------
    ReceptiveField or list of ReceptiveField

    Examples
    --------
    Three 3x3 convolutions of stride 1 see 7x7 inputs; with stride 3 each layer
    triples the field (3 -> 9 -> 27):

    >>> import fastconv as fc
    >>> fc.receptive_field([3, 3, 3]).size
    7
    >>> [f.size for f in fc.receptive_field([(3, 3)] * 3, per_layer=True)]
    [3, 9, 27]
    >>> fc.receptive_field([dict(kernel_size=(7, 7), stride=2, padding=3)])
    ReceptiveField(size=(7, 7), jump=(2, 2), start=(0.0, 0.0))
    """
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence) or not layers:
        raise TypeError(
            f"layers must be a non-empty sequence of layer descriptions, got {layers!r}")
    parsed = [_layer_args(layer, i) for i, layer in enumerate(layers)]
    nds = {_nd_of(a) for a in parsed} - {None}
    if len(nds) > 1:
        raise ValueError(f"layers mix different numbers of spatial axes: {sorted(nds)}")
    nd = nds.pop() if nds else 1
    scalar = not any(_nd_of(a) for a in parsed)
    r, j, s = [1] * nd, [1] * nd, [0.0] * nd
    out = []
    for i, (k, t, p, d) in enumerate(parsed):
        k = int_tuple(k, nd, f"layers[{i}] kernel_size")
        t = int_tuple(t, nd, f"layers[{i}] stride")
        d = int_tuple(d, nd, f"layers[{i}] dilation")
        if isinstance(p, str):
            raise ValueError(
                f"layers[{i}] padding={p!r}: string paddings depend on the input size; "
                "give the leading padding as an int"
            )
        if _is_int(p):
            pb = (int(p),) * nd
        elif isinstance(p, (tuple, list)) and len(p) == 2 and nd == 1 and all(map(_is_int, p)):
            pb = (int(p[0]),)
        elif isinstance(p, (tuple, list)) and len(p) == nd:
            pb = tuple(int(q) if _is_int(q) else int(q[0]) for q in p)
        else:
            raise ValueError(f"layers[{i}] padding must be an int, (before, after) or one "
                             f"entry per axis, got {p!r}")
        if any(q < 0 for q in pb):
            raise ValueError(f"layers[{i}] padding must be non-negative, got {p!r}")
        for a in range(nd):
            ke = d[a] * (k[a] - 1) + 1
            s[a] = s[a] + ((ke - 1) / 2 - pb[a]) * j[a]
            r[a] = r[a] + (ke - 1) * j[a]
            j[a] = j[a] * t[a]
        out.append(ReceptiveField(
            r[0] if scalar else tuple(r), j[0] if scalar else tuple(j),
            s[0] if scalar else tuple(s)))
    return out if per_layer else out[-1]
