"""Tunables, in one place.  Environment variables override the defaults."""

import os

#: Numba fastmath flags: everything except ``nnan``/``ninf`` so NaN and Inf
#: propagate (``fastmath=True`` would make ``isnan`` false, numba #2919).
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

#: Upper bound of any algorithm's scratch buffer (bytes), e.g. the im2col matrix.
WORKSPACE_LIMIT = int(os.environ.get("FASTCONV_WORKSPACE_LIMIT", 32 * 2**20))

#: Below this many multiply-adds a call runs on one thread (thread start-up
#: costs more than it saves).  Thread count never changes results.
PARALLEL_MIN_FLOPS = int(os.environ.get("FASTCONV_PARALLEL_MIN_FLOPS", 200_000))
