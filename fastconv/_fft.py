"""FFT plumbing shared by the layer FFT algorithm and ``fastconv.convolve``.

* ``scipy.fft`` is imported lazily (it costs ~0.3 s).
* ``workers=`` follows fastconv's thread setting.
* When the optional ``mkl_fft`` package is installed, :func:`backend` returns
  its ``scipy.fft`` backend (``pip install fastconv[mkl]``); pocketfft (SciPy's
  own) is the default that always works.  ``FASTCONV_FFT=pocketfft`` forces it.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os

from .threads import get_num_threads

_mkl = None


def _mkl_backend():
    global _mkl
    if _mkl is None:
        _mkl = False
        for name in ("mkl_fft.interfaces.scipy_fft", "mkl_fft._scipy_fft_backend"):
            try:  # mkl_fft >= 1.3 / older releases
                _mkl = importlib.import_module(name)
                break
            except ImportError:
                continue
    return _mkl or None


def backend_name() -> str:
    if os.environ.get("FASTCONV_FFT", "auto") == "pocketfft":
        return "pocketfft"
    return "mkl_fft" if _mkl_backend() is not None else "pocketfft"


@contextlib.contextmanager
def backend():
    """Context in which ``scipy.fft`` calls use the best available FFT."""
    import scipy.fft

    be = _mkl_backend() if backend_name() == "mkl_fft" else None
    if be is None:
        yield scipy.fft
        return
    with scipy.fft.set_backend(be, only=True):
        yield scipy.fft


def workers() -> int:
    return get_num_threads()


@functools.lru_cache(maxsize=4096)
def fast_len(n: int, real: bool = True) -> int:
    """``scipy.fft.next_fast_len`` without importing ``scipy.fft`` (planning must
    stay cheap): the smallest 5-smooth (real) or 11-smooth (complex) integer >= n."""
    n = int(n)
    if n <= 6:
        return max(n, 1)
    primes = (2, 3, 5) if real else (2, 3, 5, 7, 11)
    m = n
    while True:
        r = m
        for p in primes:
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 1


def fast_shape(shape, real: bool = True) -> tuple[int, ...]:
    return tuple(fast_len(n, real) for n in shape)


# ---------------------------------------------------------------------------
# N-d linear convolution through the FFT (used by fastconv.convolve and, for
# the layers, by fastconv.algorithms.fft).  Stable names:
#   conv_window(a, b, starts, sizes)            one FFT of the minimal length
#   oa_conv_window(a, b, starts, sizes, blocks) overlap-add, blockwise
#   window_fft_len(la, lb, start, size)         that minimal length, per axis
#   oa_block_len(la, lb)                        a good overlap-add block length
#   fft_seconds(shape, nbatch, real)            the cost model of one transform
# Convention: the K convolution axes are the LAST K axes of both arrays; the
# leading axes broadcast (NumPy rules).  ``starts``/``sizes`` select the window
# ``[start, start + size)`` of the full linear convolution on each axis
# (full length ``la + lb - 1``).  Real inputs use rfftn/irfftn; float32 and
# complex64 inputs are transformed in single precision.
# ---------------------------------------------------------------------------
def _fft_dtype(a, b):
    import numpy as np

    single = all(x.dtype in (np.float32, np.complex64) for x in (a, b))
    cplx = a.dtype.kind == "c" or b.dtype.kind == "c"
    if cplx:
        return np.dtype(np.complex64 if single else np.complex128)
    return np.dtype(np.float32 if single else np.float64)


def window_fft_len(la: int, lb: int, start: int, size: int, real: bool = True) -> int:
    """Smallest fast FFT length whose circular convolution equals the linear one
    on the window ``[start, start + size)``.

    The circular result at index ``i`` is the sum of the full result at
    ``i + m * n``; the window is free of wrap-around when
    ``n >= max(la + lb - 1 - start, start + size)``.  "valid" needs only
    ``max(la, lb)`` (SciPy's fftconvolve always uses ``la + lb - 1``).
    """
    full = la + lb - 1
    return fast_len(max(full - start, start + size, 1), real)


def _forward(sfft, x, n, axes, real, nw):
    """Forward N-d transform of ``x`` zero-padded to ``n`` on ``axes``, one axis
    at a time, last axis first: each pass transforms only the rows that are not
    all padding (a small kernel padded to a large size costs ~1/K of rfftn)."""
    if real:
        y = sfft.rfft(x, n[-1], axis=axes[-1], workers=nw)
    else:
        y = sfft.fft(x, n[-1], axis=axes[-1], workers=nw)
    for ni, ax in zip(reversed(n[:-1]), reversed(axes[:-1]), strict=True):
        y = sfft.fft(y, ni, axis=ax, workers=nw, overwrite_x=True)
    return y


def _inverse_window(sfft, y, n, axes, real, nw, starts, sizes):
    """Inverse N-d transform keeping only the window ``[start, start + size)`` on
    each axis: one axis at a time (last axis last), each result cut to its window
    before the next pass, so rows outside the window are never transformed back."""
    for ni, ax, st, sz in zip(n[:-1], axes[:-1], starts[:-1], sizes[:-1], strict=True):
        y = sfft.ifft(y, ni, axis=ax, workers=nw, overwrite_x=True)
        sl = [slice(None)] * y.ndim
        sl[ax] = slice(st, st + sz)
        y = y[tuple(sl)]
    if real:
        y = sfft.irfft(y, n[-1], axis=axes[-1], workers=nw)
    else:
        y = sfft.ifft(y, n[-1], axis=axes[-1], workers=nw)
    sl = [slice(None)] * y.ndim
    sl[axes[-1]] = slice(starts[-1], starts[-1] + sizes[-1])
    return y[tuple(sl)]


def conv_window(a, b, starts, sizes):
    """Window of the linear convolution of ``a`` and ``b`` over their last
    ``K = len(starts)`` axes, by one (r)FFT of the minimal length per axis.

    Returns a new C-contiguous array of shape ``broadcast(lead) + sizes``.
    """
    import numpy as np

    K = len(starts)
    dt = _fft_dtype(a, b)
    real = dt.kind == "f"
    a = np.asarray(a, dtype=dt)
    b = np.asarray(b, dtype=dt)
    la, lb = a.shape[a.ndim - K:], b.shape[b.ndim - K:]
    n = tuple(
        window_fft_len(x, y, st, sz, real)
        for x, y, st, sz in zip(la, lb, starts, sizes, strict=True)
    )
    axes = tuple(range(-K, 0))
    nw = workers()
    with backend() as sfft:
        fa = _forward(sfft, a, n, axes, real, nw)
        fb = _forward(sfft, b, n, axes, real, nw)
        if np.broadcast_shapes(fa.shape, fb.shape) == fa.shape:
            fa *= fb
        else:
            fa = fa * fb
        del fb
        y = _inverse_window(sfft, fa, n, axes, real, nw, starts, sizes)
    return np.ascontiguousarray(y)


def oa_block_len(la: int, lb: int, real: bool = True) -> int:
    """Block length of ``a`` for overlap-add along one axis, or 0 when one
    transform of the whole axis is cheaper (``a`` not much longer than ``b``).

    Minimises ``nfft * log2(nfft) / block`` (transform work per output sample,
    blocks of ``block = nfft - lb + 1``) over fast lengths ``nfft >= 2 lb``.
    """
    import math

    full = la + lb - 1
    best_cost = fft_seconds((fast_len(full, real),), 1, real) / max(full, 1)
    best = 0
    m = 1 << max(1, int(math.ceil(math.log2(2 * lb))))
    while m < full:
        nfft = fast_len(m, real)
        blk = nfft - lb + 1
        nb = -(-la // blk)
        cost = nb * fft_seconds((nfft,), 1, real) / max(full, 1)
        if cost < best_cost * 0.9 and blk >= lb - 1:
            best, best_cost = blk, cost
        m *= 2
    return best


def fft_seconds(shape, nbatch: int = 1, real: bool = True) -> float:
    """Cost model: seconds of one forward (r)FFT of ``shape``, ``nbatch`` times.

    Measured with pocketfft on AVX-512 (float64): ~0.5 ns per ``N log2 N`` while a
    transform fits in L2, rising to ~1.3 ns for multi-megabyte 2-D transforms
    (column passes leave the cache).  ``real`` halves the work.
    """
    import math

    N = math.prod(shape)
    if N <= 1:
        return 1e-6
    nbytes = N * 16
    c = 0.5e-9 if nbytes <= 2**18 else 0.8e-9 if nbytes <= 2**22 else 1.3e-9
    per = c * N * math.log2(N) * (0.5 if real else 1.0)
    return nbatch * per + 5e-6


def oa_conv_window(a, b, starts, sizes, blocks):
    """Like :func:`conv_window`, overlap-add along the axes with ``blocks[i] > 0``.

    ``a`` is cut into blocks of ``blocks[i]`` samples along conv axis ``i``
    (requires ``blocks[i] >= lb_i - 1``), all blocks are transformed at once
    with transforms of ``fast_len(blocks[i] + lb_i - 1)``, multiplied by ``b``'s
    spectrum and the block results are added with their overlaps.  Axes with
    ``blocks[i] == 0`` are transformed whole (minimal window length).  Work is
    spread over ``workers()`` threads by pocketfft (many small transforms).
    """
    import numpy as np

    K = len(starts)
    dt = _fft_dtype(a, b)
    real = dt.kind == "f"
    a = np.asarray(a, dtype=dt)
    b = np.asarray(b, dtype=dt)
    lead = a.ndim - K
    la, lb = a.shape[lead:], b.shape[b.ndim - K:]
    # -- cut a into blocks: axis i -> (nb_i, L_i)
    pad = [(0, 0)] * a.ndim
    ashape = list(a.shape[:lead])
    bshape = list(b.shape[:b.ndim - K])
    n, fft_axes = [], []
    pos = lead
    for i in range(K):
        L = blocks[i]
        if L:
            nb = -(-la[i] // L)
            pad[lead + i] = (0, nb * L - la[i])
            ashape += [nb, L]
            bshape += [1, lb[i]]
            n.append(fast_len(L + lb[i] - 1, real))
            fft_axes.append(pos + 1)
            pos += 2
        else:
            ashape.append(la[i])
            bshape.append(lb[i])
            n.append(window_fft_len(la[i], lb[i], starts[i], sizes[i], real))
            fft_axes.append(pos)
            pos += 1
    if any(p != (0, 0) for p in pad):
        a = np.pad(a, pad)
    a = a.reshape(ashape)
    b = b.reshape(bshape)
    # block-index axes first, sample axes last: every block is one contiguous
    # small array, so the batched transforms run in cache
    nb_axes = [fft_axes[i] - 1 for i in range(K) if blocks[i]]
    perm = list(range(lead)) + nb_axes + list(fft_axes)
    inv = list(np.argsort(perm))
    a = np.ascontiguousarray(a.transpose(perm))
    b = b.transpose(perm)
    last = tuple(range(a.ndim - K, a.ndim))
    nw = workers()
    with backend() as sfft:
        fa = _forward(sfft, a, n, last, real, nw)
        del a
        fb = _forward(sfft, b, n, last, real, nw)
        if np.broadcast_shapes(fa.shape, fb.shape) == fa.shape:
            fa *= fb
        else:
            fa = fa * fb
        del fb
        y = (sfft.irfftn(fa, n, axes=last, workers=nw) if real
             else sfft.ifftn(fa, n, axes=last, workers=nw))
    del fa
    # keep each block's linear-convolution segment, then restore the axis order
    y = y[(Ellipsis,) + tuple(slice(0, blocks[i] + lb[i] - 1) if blocks[i] else slice(None)
                              for i in range(K))]
    y = y.transpose(inv)
    # -- overlap-add, axis by axis (last first, so earlier positions stay valid)
    for i in reversed(range(K)):
        ax = fft_axes[i]
        L = blocks[i]
        if not L:
            y = y[(slice(None),) * ax + (slice(starts[i], starts[i] + sizes[i]),)]
            continue
        seg = L + lb[i] - 1
        tail = seg - L
        nb = y.shape[ax - 1]
        oshape = list(y.shape)
        oshape[ax - 1:ax + 1] = [nb + 1, L]
        o = np.zeros(oshape, y.dtype)
        pre = (slice(None),) * (ax - 1)
        o[pre + (slice(0, nb), slice(0, L))] = y[pre + (slice(None), slice(0, L))]
        if tail:
            o[pre + (slice(1, nb + 1), slice(0, tail))] += y[pre + (slice(None), slice(L, seg))]
        oshape[ax - 1:ax + 1] = [(nb + 1) * L]
        y = o.reshape(oshape)
        y = y[(slice(None),) * (ax - 1) + (slice(starts[i], starts[i] + sizes[i]),)]
    return np.ascontiguousarray(y)
