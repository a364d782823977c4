"""Activations of the detector stage and their backward passes.

``relu``, ``sigmoid`` and ``tanh`` take any array and return a new one (or
write into ``out=``); the ``*_backward`` functions take the gradient w.r.t. the
activation's output and what the backward needs (the *input* for ``relu``,
the *output* for ``sigmoid`` and ``tanh``, so a training loop keeps only one
array per layer).  NaN propagates.  float16 is computed in float32.

``apply_inplace(name, a)`` is what ``conv*d(..., activation=name)`` runs on
its fresh result, so inference makes one extra pass over the output at most.
"""

from __future__ import annotations

import numpy as np

__all__ = ["relu", "sigmoid", "tanh", "relu_backward", "sigmoid_backward", "tanh_backward",
           "ACTIVATIONS", "apply_inplace"]

ACTIVATIONS = ("relu", "sigmoid", "tanh")


def _float(a, name):
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    if a.dtype.kind != "f":
        return a.astype(np.float64), np.dtype(np.float64)
    if a.dtype == np.float16:
        return a.astype(np.float32), np.dtype(np.float16)
    return a, a.dtype.newbyteorder("=")


def _finish(res, rdt, out):
    if out is None:
        return res.astype(rdt, copy=False)
    if not isinstance(out, np.ndarray) or out.shape != res.shape:
        raise ValueError(f"out must be an ndarray of shape {res.shape}, got "
                         f"{getattr(out, 'shape', type(out).__name__)}")
    out[...] = res
    return out


def _relu_(a: np.ndarray) -> np.ndarray:
    # np.maximum propagates NaN (np.fmax would not)
    return np.maximum(a, 0, out=a)


def _sigmoid_(a: np.ndarray) -> np.ndarray:
    # 1 / (1 + exp(-a)) == (1 + tanh(a / 2)) / 2, without overflow for large |a|
    a *= 0.5
    np.tanh(a, out=a)
    a += 1
    a *= 0.5
    return a


def _tanh_(a: np.ndarray) -> np.ndarray:
    return np.tanh(a, out=a)


_INPLACE = {"relu": _relu_, "sigmoid": _sigmoid_, "tanh": _tanh_}


def apply_inplace(name: str, a: np.ndarray) -> np.ndarray:
    """Apply activation ``name`` to the writeable float array ``a`` in place."""
    return _INPLACE[name](a)


def relu(x, out=None) -> np.ndarray:
    """Rectified linear unit, ``max(x, 0)`` (NaN propagates).

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.relu(np.array([-1.0, 0.5]))
    array([0. , 0.5])
    """
    a, rdt = _float(x, "x")
    return _finish(_relu_(np.array(a, dtype=a.dtype, copy=True)), rdt, out)


def sigmoid(x, out=None) -> np.ndarray:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, computed without overflow.

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.sigmoid(np.array([0.0]))
    array([0.5])
    """
    a, rdt = _float(x, "x")
    return _finish(_sigmoid_(np.array(a, dtype=a.dtype, copy=True)), rdt, out)


def tanh(x, out=None) -> np.ndarray:
    """Hyperbolic tangent.

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> float(fc.tanh(np.array([0.0]))[0])
    0.0
    """
    a, rdt = _float(x, "x")
    return _finish(_tanh_(np.array(a, dtype=a.dtype, copy=True)), rdt, out)


def _pair(grad_output, other, name):
    g, gdt = _float(grad_output, "grad_output")
    o, odt = _float(other, name)
    if g.shape != o.shape:
        raise ValueError(f"grad_output shape {g.shape} must equal {name} shape {o.shape}")
    cdt = np.result_type(g.dtype, o.dtype)
    rdt = np.result_type(gdt, odt)
    return g.astype(cdt, copy=False), o.astype(cdt, copy=False), rdt


def relu_backward(grad_output, x) -> np.ndarray:
    """Gradient of :func:`relu`: ``grad_output * (x > 0)``.

    ``x`` may be relu's input or its output (same sign pattern).  NaN in
    ``grad_output`` or ``x`` propagates.

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.relu_backward(np.array([2.0, 2.0]), np.array([-1.0, 3.0]))
    array([0., 2.])
    """
    g, o, rdt = _pair(grad_output, x, "x")
    res = np.where(o > 0, g, np.where(np.isnan(o), o, 0)).astype(g.dtype, copy=False)
    return res.astype(rdt, copy=False)


def sigmoid_backward(grad_output, y) -> np.ndarray:
    """Gradient of :func:`sigmoid` from its *output* ``y``: ``grad_output * y * (1 - y)``.

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.sigmoid_backward(np.array([1.0]), fc.sigmoid(np.array([0.0])))
    array([0.25])
    """
    g, o, rdt = _pair(grad_output, y, "y")
    return (g * o * (1 - o)).astype(rdt, copy=False)


def tanh_backward(grad_output, y) -> np.ndarray:
    """Gradient of :func:`tanh` from its *output* ``y``: ``grad_output * (1 - y**2)``.

    Examples
    --------
    >>> import numpy as np, fastconv as fc
    >>> fc.tanh_backward(np.array([1.0]), fc.tanh(np.array([0.0])))
    array([1.])
    """
    g, o, rdt = _pair(grad_output, y, "y")
    return (g * (1 - o * o)).astype(rdt, copy=False)
