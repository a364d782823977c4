"""Argument normalisation: the single source of truth for every operator.

Public functions call :func:`conv_spec` (or the pooling equivalent) exactly once.
The resulting frozen :class:`ConvSpec` holds every derived quantity (padding per
side, output size, compute dtype, ...) and is what the planner, the algorithms
and every backend consume.  Nothing downstream re-parses user arguments.

The helpers here are pure functions of shapes and Python values, so they are
also what :func:`fastconv.plan_conv` and the shape-arithmetic helpers use.
"""

from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass, field, replace

import numpy as np

PADDING_MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")
#: ``padding_mode`` -> ``np.pad`` mode.
NP_PAD_MODE = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "edge",
    "circular": "wrap",
    "symmetric": "symmetric",
}
PADDING_STRINGS = ("valid", "same", "same_lower", "full")
ALGORITHMS = ("auto", "direct", "im2col", "winograd", "fft", "separable")
BACKENDS = ("auto", "numba", "cython", "cuda")


# --------------------------------------------------------------------------
# small validators (messages name the argument and the values)
# --------------------------------------------------------------------------
def _is_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def int_tuple(value, nd: int, name: str, *, minimum: int | None = 1) -> tuple[int, ...]:
    """An int or a length-``nd`` sequence of ints -> tuple of ``nd`` ints."""
    if _is_int(value):
        out = (int(value),) * nd
    elif isinstance(value, (tuple, list)) and all(_is_int(v) for v in value):
        if len(value) != nd:
            raise ValueError(
                f"{name} must be an int or a tuple of {nd} ints (one per spatial axis), "
                f"got {tuple(value)!r} with {len(value)} entries"
            )
        out = tuple(int(v) for v in value)
    else:
        raise TypeError(f"{name} must be an int or a tuple of {nd} ints, got {value!r}")
    if minimum is not None and any(v < minimum for v in out):
        raise ValueError(f"{name} must be >= {minimum} on every axis, got {value!r}")
    return out


def check_choice(value, name: str, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def as_array(a, name: str) -> np.ndarray:
    """``np.asarray`` that refuses non-numeric data with a message naming ``name``."""
    arr = np.asarray(a)
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    return arr


def compute_dtype(*dtypes) -> tuple[np.dtype, np.dtype]:
    """(compute dtype, result dtype) for real convolution inputs.

    float32/float64 are kept; float16 is computed in float32 and returned as
    float16; anything else gives ``np.result_type(*dtypes, np.float32)``.
    """
    dts = [np.dtype(d) for d in dtypes if d is not None]
    for d in dts:
        if d.kind == "c":
            raise TypeError(
                f"complex dtype {d} is not supported by the layer functions; "
                "use fastconv.convolve / fastconv.correlate for complex data"
            )
    if all(d == np.float16 for d in dts):
        return np.dtype(np.float32), np.dtype(np.float16)
    res = np.result_type(*[d.newbyteorder("=") for d in dts], np.float32)
    if res == np.float16:  # e.g. float16 with int8
        return np.dtype(np.float32), np.dtype(np.float16)
    if res not in (np.float32, np.float64):
        res = np.dtype(np.float64)  # longdouble and friends: computed in float64
        return res, res
    return np.dtype(res), np.dtype(res)


def parse_padding(
    padding, nd: int, in_size, kernel, stride, dilation, name: str = "padding"
) -> tuple[tuple[int, int], ...]:
    """Every padding form of the API -> ``((before, after), ...)`` per spatial axis."""
    eff = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    if isinstance(padding, str):
        check_choice(padding, name, PADDING_STRINGS)
        if padding == "valid":
            return ((0, 0),) * nd
        if padding == "full":
            return tuple((e - 1, e - 1) for e in eff)
        pads = []
        for L, e, s in zip(in_size, eff, stride, strict=True):
            out = -(-L // s)
            total = max((out - 1) * s + e - L, 0)
            small, big = total // 2, total - total // 2
            pads.append((small, big) if padding == "same" else (big, small))
        return tuple(pads)
    if _is_int(padding):
        if padding < 0:
            raise ValueError(f"{name} must be non-negative, got {padding}")
        return ((int(padding), int(padding)),) * nd
    if isinstance(padding, (tuple, list)):
        if len(padding) != nd:
            raise ValueError(
                f"{name} must have one entry per spatial axis ({nd}), got {tuple(padding)!r}"
            )
        pads = []
        for p in padding:
            if _is_int(p):
                pads.append((int(p), int(p)))
            elif (
                isinstance(p, (tuple, list)) and len(p) == 2 and all(_is_int(v) for v in p)
            ):
                pads.append((int(p[0]), int(p[1])))
            else:
                raise TypeError(
                    f"{name} entries must be ints or (before, after) pairs of ints, "
                    f"got {tuple(padding)!r}"
                )
        if any(v < 0 for pair in pads for v in pair):
            raise ValueError(f"{name} must be non-negative, got {tuple(padding)!r}")
        return tuple(pads)
    raise TypeError(
        f"{name} must be an int, a tuple, a tuple of (before, after) pairs or one of "
        f"{PADDING_STRINGS}, got {padding!r}"
    )


def out_size_1(L, pad, k, s, d, ceil_mode=False) -> int:
    """Output length of one axis (the API's formula)."""
    span = L + pad[0] + pad[1] - d * (k - 1) - 1
    if span < 0:
        return 0
    if not ceil_mode:
        return span // s + 1
    o = -(-span // s) + 1
    # the last window must start inside the input or its leading padding
    if (o - 1) * s >= L + pad[0]:
        o -= 1
    return o


# --------------------------------------------------------------------------
# the convolution spec
# --------------------------------------------------------------------------
@dataclass(frozen=True)
class ConvSpec:
    """Everything an algorithm or backend needs to know about one convolution.

    Spatial tuples have one entry per spatial axis (``nd`` of them).
    """

    nd: int
    batch: int
    in_channels: int
    out_channels: int
    groups: int
    in_size: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pad: tuple[tuple[int, int], ...]
    padding_mode: str
    out_size: tuple[int, ...]
    dtype: np.dtype = field(default=np.dtype(np.float32))  # compute dtype
    result_dtype: np.dtype = field(default=np.dtype(np.float32))
    batched: bool = True
    has_bias: bool = False

    # ---- derived -----------------------------------------------------------
    @property
    def in_per_group(self) -> int:
        return self.in_channels // self.groups

    @property
    def out_per_group(self) -> int:
        return self.out_channels // self.groups

    @property
    def pointwise(self) -> bool:
        """1x1 kernel, stride 1, no padding: a GEMM per image on x as it is."""
        return (all(k == 1 for k in self.kernel) and self.unit_stride()
                and all(p == (0, 0) for p in self.pad))

    @property
    def depthwise(self) -> bool:
        return self.groups == self.in_channels and self.groups > 1

    @property
    def pad_before(self) -> tuple[int, ...]:
        return tuple(p[0] for p in self.pad)

    @property
    def padded_size(self) -> tuple[int, ...]:
        return tuple(L + a + b for L, (a, b) in zip(self.in_size, self.pad, strict=True))

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Shape of the public result (unbatched if the input was)."""
        lead = (self.batch,) if self.batched else ()
        return lead + (self.out_channels,) + self.out_size

    @property
    def x_shape(self) -> tuple[int, ...]:
        return (self.batch, self.in_channels) + self.in_size

    @property
    def w_shape(self) -> tuple[int, ...]:
        return (self.out_channels, self.in_per_group) + self.kernel

    @property
    def taps(self) -> int:
        return math.prod(self.kernel)

    @property
    def flops(self) -> int:
        """Multiply-adds x 2 of the direct definition (padding taps included)."""
        return (
            2 * self.batch * self.out_channels * math.prod(self.out_size)
            * self.in_per_group * self.taps
        )

    def unit_stride(self) -> bool:
        return all(s == 1 for s in self.stride)

    def unit_dilation(self) -> bool:
        return all(d == 1 for d in self.dilation)

    def zero_padded(self) -> bool:
        """True when padding needs no materialised copy (zeros or no padding)."""
        return self.padding_mode == "zeros" or all(p == (0, 0) for p in self.pad)

    def after_explicit_padding(self) -> ConvSpec:
        """The spec of the same convolution on an input already padded by ``np.pad``."""
        return replace(
            self, in_size=self.padded_size, pad=((0, 0),) * self.nd, padding_mode="zeros"
        )

    def key(self) -> tuple:
        """Hashable key of the case (for autotune caches)."""
        return (
            self.nd, self.batch, self.in_channels, self.out_channels, self.groups,
            self.in_size, self.kernel, self.stride, self.dilation, self.pad,
            self.padding_mode, str(self.dtype),
        )


def freeze(value):
    """``value`` with every list turned into a tuple (recursively): the hashable
    form of a geometry argument.  The normalisers read lists and tuples alike."""
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    if isinstance(value, tuple):
        return tuple(freeze(v) for v in value) if any(isinstance(v, (list, tuple))
                                                      for v in value) else value
    return value


def call_memoised(cached, fn, args, kwargs=None):
    """``cached(*args, **kwargs)``; arguments with lists (``padding=[(2, 2)]``, as
    ``fastconv.convolve`` passes) are memoised under their tuple form; other
    unhashable ones (arrays) skip the memo.  An error is raised by ``fn`` on the
    caller's own values (its message quotes them as given); errors are never cached."""
    kwargs = kwargs or {}
    try:
        return cached(*args, **kwargs)
    except TypeError as e:
        if "unhashable" not in str(e):
            raise
    try:
        return cached(*[freeze(a) for a in args], **{k: freeze(v) for k, v in kwargs.items()})
    except (TypeError, ValueError):
        return fn(*args, **kwargs)  # unhashable still (arrays), or an error quoting the lists


def _memoised(fn):
    """Memoise a spec normaliser: its arguments are shapes and small Python values,
    a layer is called many times with the same ones, and the validation is pure
    Python (tens of microseconds).  Lists are memoised as tuples, other unhashable
    arguments skip the memo; errors are never cached."""
    cached = functools.lru_cache(maxsize=4096)(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return call_memoised(cached, fn, args, kwargs)

    return wrapper


@_memoised
def conv_spec(
    nd: int,
    x_shape,
    w_shape,
    bias_shape=None,
    stride=1,
    padding=0,
    dilation=1,
    groups=1,
    padding_mode: str = "zeros",
    x_dtype=np.float32,
    w_dtype=None,
    b_dtype=None,
) -> ConvSpec:
    """Validate a convolution's arguments and derive everything else once."""
    x_shape = tuple(int(s) for s in x_shape)
    w_shape = tuple(int(s) for s in w_shape)
    if len(w_shape) != nd + 2:
        raise ValueError(
            f"weight must have {nd + 2} dimensions (C_out, C_in // groups, "
            f"*kernel[{nd}]) for conv{nd}d, got shape {w_shape}"
        )
    if len(x_shape) == nd + 2:
        batched = True
    elif len(x_shape) == nd + 1:
        batched = False
        x_shape = (1,) + x_shape
    else:
        raise ValueError(
            f"x must have {nd + 2} (batched: N, C, *spatial) or {nd + 1} (unbatched: "
            f"C, *spatial) dimensions for conv{nd}d, got shape {x_shape}"
        )
    if not _is_int(groups):
        raise TypeError(f"groups must be an int, got {groups!r}")
    groups = int(groups)
    N, C = x_shape[:2]
    Co, Cg = w_shape[:2]
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    if C % groups:
        raise ValueError(f"groups={groups} must divide the input channels C_in={C}")
    if Co % groups:
        raise ValueError(f"groups={groups} must divide the output channels C_out={Co}")
    if Cg * groups != C:
        raise ValueError(
            f"weight shape {w_shape} expects C_in // groups = {Cg} input channels per "
            f"group, but x has C_in={C} channels with groups={groups} "
            f"(C_in // groups = {C // groups})"
        )
    kernel = w_shape[2:]
    if any(k < 1 for k in kernel):
        raise ValueError(f"weight kernel size must be >= 1 on every axis, got {kernel}")
    if Co < 1:
        raise ValueError(f"weight must have at least one output channel, got shape {w_shape}")
    if bias_shape is not None and tuple(bias_shape) != (Co,):
        raise ValueError(f"bias must have shape ({Co},) (C_out), got {tuple(bias_shape)}")
    stride = int_tuple(stride, nd, "stride")
    dilation = int_tuple(dilation, nd, "dilation")
    check_choice(padding_mode, "padding_mode", PADDING_MODES)
    in_size = x_shape[2:]
    pad = parse_padding(padding, nd, in_size, kernel, stride, dilation)
    out_size = tuple(
        out_size_1(L, p, k, s, d)
        for L, p, k, s, d in zip(in_size, pad, kernel, stride, dilation, strict=True)
    )
    if any(o < 1 for o in out_size):
        padded = tuple(L + a + b for L, (a, b) in zip(in_size, pad, strict=True))
        dil_k = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
        raise ValueError(
            f"output would be empty: padded input size {padded} is smaller than the "
            f"dilated kernel size {dil_k} (x spatial {in_size}, padding {pad})"
        )
    cdt, rdt = compute_dtype(x_dtype, w_dtype, b_dtype)
    return ConvSpec(
        nd=nd, batch=N, in_channels=C, out_channels=Co, groups=groups, in_size=in_size,
        kernel=kernel, stride=stride, dilation=dilation, pad=pad,
        padding_mode=padding_mode, out_size=out_size, dtype=cdt, result_dtype=rdt,
        batched=batched, has_bias=bias_shape is not None,
    )



# --------------------------------------------------------------------------
# array preparation (the only place arrays are converted)
# --------------------------------------------------------------------------
def to_compute(a: np.ndarray, dtype) -> np.ndarray:
    """C-contiguous, native byte order, compute dtype. Never returns the user's
    array when a conversion was needed; may return it untouched when not (the
    kernels never write to inputs)."""
    return np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder("="))


def to_3d(a: np.ndarray, nd: int) -> np.ndarray:
    """View an (N, C, *spatial[nd]) array as (N, C, D, H, W) (leading unit axes)."""
    return a.reshape(a.shape[:2] + (1,) * (3 - nd) + a.shape[2:])


def pad3(t, nd: int, fill):
    """Left-pad a per-axis tuple to 3 entries (the kernels are written for 3-D)."""
    return (fill,) * (3 - nd) + tuple(t)


def check_out(out, shape, dtype, name: str = "out") -> np.ndarray:
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape) or out.dtype != dtype:
        raise ValueError(
            f"{name} must have shape {tuple(shape)} and dtype {np.dtype(dtype)}, "
            f"got shape {out.shape} and dtype {out.dtype}"
        )
    if not out.flags.writeable:
        raise ValueError(f"{name} must be writeable")
    return out


# ==========================================================================
# pooling spec (fastconv.pool): PoolSpec / pool_spec, adaptive and unpool sizes
# ==========================================================================
#: What a pooling operator does with the input dtype.
#: "keep": max pooling (integers and bool keep their dtype);
#: "float": average / sum / Lp / weighted pooling (integers give float64).
POOL_RESULTS = ("keep", "float")


def pool_dtypes(x_dtype, result: str = "float") -> tuple[np.dtype, np.dtype]:
    """(compute dtype, result dtype) of a pooling operator on ``x_dtype``."""
    d = np.dtype(x_dtype)
    check_choice(result, "result", POOL_RESULTS)
    if d.kind == "c":
        raise TypeError(f"x must be a real array, got complex dtype {d}")
    if d.kind not in "biuf":
        raise TypeError(f"x must be a numeric array, got dtype {d}")
    if d.kind in "biu":
        if result == "float":
            return np.dtype(np.float64), np.dtype(np.float64)
        if d.kind == "b":
            return np.dtype(np.uint8), np.dtype(np.bool_)
        d = d.newbyteorder("=")
        return d, d
    return compute_dtype(d)


def pool_batched(nd: int, x_shape, name: str = "x", op: str = "pool"):
    """(batched?, (N, C, *spatial)) of a pooling input shape; wrong ranks raise."""
    x_shape = tuple(int(s) for s in x_shape)
    if len(x_shape) == nd + 2:
        return True, x_shape
    if len(x_shape) == nd + 1:
        return False, (1,) + x_shape
    raise ValueError(
        f"{name} must have {nd + 2} (batched: N, C, *spatial) or {nd + 1} (unbatched: "
        f"C, *spatial) dimensions for {op}{nd}d, got shape {x_shape}"
    )


def pool_window_taps(L: int, O: int, k: int, s: int, d: int, pb: int):
    """Per output position of one axis: (start, first valid tap, end valid tap).

    Window ``o`` has taps at ``start + j * d`` for ``j`` in ``range(k)``, where
    ``start = o * s - pb``; the taps inside the input are ``j`` in ``[lo, hi)``.
    """
    o = np.arange(O, dtype=np.int64)
    start = o * s - pb
    lo = np.where(start >= 0, 0, (-start + d - 1) // d)
    hi = np.minimum(k, np.floor_divide(L - 1 - start, d) + 1)
    return start, lo, np.maximum(hi, lo)


@dataclass(frozen=True)
class PoolSpec:
    """Everything a pooling kernel needs, derived once from the user's arguments."""

    nd: int
    batch: int
    channels: int
    in_size: tuple[int, ...]
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pad: tuple[tuple[int, int], ...]
    ceil_mode: bool
    out_size: tuple[int, ...]
    dtype: np.dtype = field(default=np.dtype(np.float32))  # compute dtype
    result_dtype: np.dtype = field(default=np.dtype(np.float32))
    batched: bool = True

    @property
    def pad_before(self) -> tuple[int, ...]:
        return tuple(p[0] for p in self.pad)

    @property
    def planes(self) -> int:
        return self.batch * self.channels

    @property
    def x_shape(self) -> tuple[int, ...]:
        return (self.batch, self.channels) + self.in_size

    @property
    def res_shape(self) -> tuple[int, ...]:
        """(N, C, *out): the batched result shape."""
        return (self.batch, self.channels) + self.out_size

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Shape of the public result (unbatched if the input was)."""
        return self.res_shape if self.batched else self.res_shape[1:]

    @property
    def taps(self) -> int:
        return math.prod(self.kernel)

    def key(self) -> tuple:
        return (self.nd, self.batch, self.channels, self.in_size, self.kernel, self.stride,
                self.dilation, self.pad, self.ceil_mode, str(self.dtype))


@_memoised
def pool_spec(
    nd: int,
    x_shape,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode=False,
    x_dtype=np.float32,
    result: str = "float",
    op: str = "pool",
) -> PoolSpec:
    """Validate a pooling operator's arguments and derive everything else once.

    Every window must contain at least one input element (padding may exceed
    ``kernel // 2``, as in ONNX, as long as this holds); otherwise ``ValueError``.
    """
    batched, xs = pool_batched(nd, x_shape, op=op)
    kernel = int_tuple(kernel_size, nd, "kernel_size")
    stride = kernel if stride is None else int_tuple(stride, nd, "stride")
    dilation = int_tuple(dilation, nd, "dilation")
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"ceil_mode must be a bool, got {ceil_mode!r}")
    in_size = xs[2:]
    pad = parse_padding(padding, nd, in_size, kernel, stride, dilation)
    out_size = tuple(
        out_size_1(L, p, k, s, d, bool(ceil_mode))
        for L, p, k, s, d in zip(in_size, pad, kernel, stride, dilation, strict=True)
    )
    if any(o < 1 for o in out_size):
        padded = tuple(L + a + b for L, (a, b) in zip(in_size, pad, strict=True))
        dil_k = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
        raise ValueError(
            f"output would be empty: padded input size {padded} is smaller than the "
            f"dilated kernel_size {dil_k} (x spatial {in_size}, padding {pad})"
        )
    for ax, (L, O, k, s, d, (pb, _)) in enumerate(
        zip(in_size, out_size, kernel, stride, dilation, pad, strict=True)
    ):
        _, lo, hi = pool_window_taps(L, O, k, s, d, pb)
        bad = np.flatnonzero(hi <= lo)
        if bad.size:
            raise ValueError(
                f"padding {pad[ax]} on spatial axis {ax} is too large for kernel_size "
                f"{k}, stride {s}, dilation {d} and input size {L}: output window "
                f"{int(bad[0])} lies entirely in the padding (every window must overlap "
                f"the input)"
            )
    cdt, rdt = pool_dtypes(x_dtype, result)
    return PoolSpec(
        nd=nd, batch=xs[0], channels=xs[1], in_size=in_size, kernel=kernel, stride=stride,
        dilation=dilation, pad=pad, ceil_mode=bool(ceil_mode), out_size=out_size,
        dtype=cdt, result_dtype=rdt, batched=batched,
    )


def adaptive_out_size(nd: int, in_size, output_size) -> tuple[int, ...]:
    """``output_size`` (int, tuple, None entries = input size) -> tuple of ``nd`` ints."""
    if isinstance(output_size, (tuple, list)):
        if len(output_size) != nd:
            raise ValueError(
                f"output_size must be an int or a tuple of {nd} entries, "
                f"got {tuple(output_size)!r}"
            )
        output_size = tuple(
            L if o is None else o for o, L in zip(output_size, in_size, strict=True))
    out = int_tuple(output_size, nd, "output_size", minimum=None)
    if any(o < 1 for o in out):
        raise ValueError(f"output_size must be >= 1 on every axis, got {output_size!r}")
    if any(L < 1 for L in in_size):
        raise ValueError(f"x must have non-empty spatial axes, got spatial size {in_size}")
    return out


def adaptive_windows(L: int, O: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's adaptive windows of one axis: ``[floor(o L / O), ceil((o + 1) L / O))``."""
    o = np.arange(O, dtype=np.int64)
    return (o * L) // O, -((-(o + 1) * L) // O)


def unpool_out_size(nd: int, in_size, kernel, stride, pad, output_size) -> tuple[int, ...]:
    """PyTorch's ``max_unpool`` output size: ``(L - 1) * s - pads + k`` unless
    ``output_size`` (spatial, or the full shape) says otherwise, within ``stride``."""
    default = tuple(
        (L - 1) * s - a - b + k
        for L, s, (a, b), k in zip(in_size, stride, pad, kernel, strict=True)
    )
    if output_size is None:
        out = default
    else:
        if isinstance(output_size, np.ndarray):
            output_size = output_size.tolist()
        if not isinstance(output_size, (tuple, list)):
            raise TypeError(f"output_size must be a tuple of ints, got {output_size!r}")
        sizes = tuple(output_size)
        if len(sizes) in (nd + 1, nd + 2):
            sizes = sizes[-nd:]
        out = int_tuple(sizes, nd, "output_size", minimum=None)
        for o, dflt, s in zip(out, default, stride, strict=True):
            if not dflt - s < o < dflt + s:
                raise ValueError(
                    f"output_size {tuple(output_size)!r} is invalid: each spatial size "
                    f"must lie strictly between default - stride and default + stride, "
                    f"default {default}, stride {stride}"
                )
    if any(o < 1 for o in out):
        raise ValueError(f"max_unpool output size would be empty: {out}")
    return out
