"""Tunables, in one place.  Environment variables override the defaults."""

import os

#: Numba fastmath flags: everything except ``nnan``/``ninf`` so NaN and Inf
#: propagate (``fastmath=True`` would make ``isnan`` false, numba #2919).
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

#: Results of at least this many bytes are allocated on a 64-byte line, and the
#: kernels that gain from it write them with non-temporal (streaming) stores: no
#: read-for-ownership, but the result ends up in memory instead of the cache (the
#: max pooling backward; the blocked direct kernel's row layout at one thread).
STREAM_MIN_BYTES = 4 << 20

#: Upper bound of any algorithm's scratch buffer (bytes), e.g. the im2col matrix.
WORKSPACE_LIMIT = int(os.environ.get("FASTCONV_WORKSPACE_LIMIT", 32 * 2**20))

#: Below this many multiply-adds a call runs on one thread (thread start-up
#: costs more than it saves).  Thread count never changes results.
PARALLEL_MIN_FLOPS = int(os.environ.get("FASTCONV_PARALLEL_MIN_FLOPS", 200_000))

#: libgomp busy-wait after each parallel region before its threads sleep.  The
#: default (300,000 spins) steals a core from whatever the user runs next: measured
#: here (bench/interleave_spin.py), a NumPy matmul alternating with conv2d took
#: 4.4-11x the time of its parts with the default and 1.04-1.88x with 10000;
#: fastconv's regions are long enough not to need a long spin.  Applied as
#: ``GOMP_SPINCOUNT`` when fastconv first loads a kernel (libgomp reads it at load),
#: unless the user set ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY``.
#: ``FASTCONV_OMP_SPINCOUNT=default`` keeps libgomp's own.
OMP_SPINCOUNT = os.environ.get("FASTCONV_OMP_SPINCOUNT", "10000")
