"""Scratch and result buffers placed on cache lines.

NumPy starts large arrays 16 bytes into a 64-byte line; kernels that stream a result
or give each thread its own scratch row want whole lines.
"""

from __future__ import annotations

import math

import numpy as np


def empty_aligned(shape, dtype) -> np.ndarray:
    """``np.empty(shape, dtype)`` whose data starts on a 64-byte line (C order)."""
    dt = np.dtype(dtype)
    n = math.prod(shape) * dt.itemsize
    raw = np.empty(n + 64, np.uint8)
    off = -raw.ctypes.data % 64
    return raw[off:off + n].view(dt).reshape(shape)


def empty_result(shape, dtype, min_bytes=None) -> np.ndarray:
    """``np.empty``, on a 64-byte line when at least ``min_bytes`` (default
    ``_config.STREAM_MIN_BYTES``): the rows of a streamed result then fill whole
    cache lines when their width allows."""
    from ._config import STREAM_MIN_BYTES

    dt = np.dtype(dtype)
    limit = STREAM_MIN_BYTES if min_bytes is None else min_bytes
    if math.prod(shape) * dt.itemsize < limit:
        return np.empty(shape, dt)
    return empty_aligned(shape, dt)


def thread_rows(threads: int, n: int, dtype) -> np.ndarray:
    """Per-thread kernel scratch: a ``(threads, >= n)`` array whose rows start on
    64-byte cache lines and never share one (row stride: whole lines plus a spare).

    Kernels write their thread's row on every job; rows sharing a line across
    threads make the cores pass it back and forth (false sharing: the depthwise
    kernel's per-thread tap offsets, 24 bytes each in one line, had made 512ch
    14x14 N=8 run 634 us on one thread and 469 us on two; 307 us once apart).
    """
    dt = np.dtype(dtype)
    lane = max(1, 64 // dt.itemsize)
    t = max(int(threads), 1)
    stride = -(-int(n) // lane) * lane + lane
    return empty_aligned((t, stride), dt)
