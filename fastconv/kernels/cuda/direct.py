"""Direct convolution, CUDA backend (Numba CUDA).

Same Python signature as ``kernels.numba.direct.conv_direct``: arrays arrive
3-D-normalised, x (N, C, D, H, W), w (Co, C/groups, KD, KH, KW),
out (N, Co, OD, OH, OW), C-contiguous host arrays in the compute dtype.

One GPU thread computes one output element: it decodes its flat index (64-bit
arithmetic) into (n, co, od, oh, ow), starts from the bias, and adds
``w * x`` over (input channel, kd, kh, kw) in that fixed order, skipping taps
that fall in the zero padding.  No atomics and no cross-thread reductions, so
results are identical from run to run and independent of the launch
configuration; NaN and Inf propagate (no fast-math).  Groups and depthwise go
through the same kernel.  A grid-stride loop covers any output size with at
most :data:`MAX_BLOCKS` blocks.

Device memory is bounded: the batch is processed in chunks of at most
:data:`DEVICE_CHUNK_BYTES` of input + output per launch (the weight is copied
once per call).

No GPU was available to this project: the kernel is tested under Numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``) and has never been timed on hardware.
"""

from __future__ import annotations

import numpy as np
from numba import cuda

#: Threads per block (one output element per thread).  Tests set it small so
#: that tiny inputs span several blocks under the simulator.
THREADS_PER_BLOCK = 128

#: Most blocks per launch; larger outputs are covered by the grid-stride loop.
MAX_BLOCKS = 65535

#: Device bytes of input + output one launch may hold; the batch is split to fit.
DEVICE_CHUNK_BYTES = 1 << 30


@cuda.jit
def _conv_direct_kernel(x, w, b, out, sd, sh, sw, dd, dh, dw, pd, ph, pw, groups):
    N, C, D, H, W = x.shape
    Co, cig, KD, KH, KW = w.shape
    OD, OH, OW = out.shape[2], out.shape[3], out.shape[4]
    total = np.int64(N) * np.int64(Co) * np.int64(OD) * np.int64(OH) * np.int64(OW)
    i = np.int64(cuda.blockIdx.x) * np.int64(cuda.blockDim.x) + np.int64(cuda.threadIdx.x)
    step = np.int64(cuda.gridDim.x) * np.int64(cuda.blockDim.x)
    cog = Co // groups
    while i < total:
        r = i
        ow = r % OW
        r //= OW
        oh = r % OH
        r //= OH
        od = r % OD
        r //= OD
        co = r % Co
        n = r // Co
        c0 = (co // cog) * cig
        acc = b[co]
        for ci in range(cig):
            c = c0 + ci
            for kd in range(KD):
                idd = od * sd + kd * dd - pd
                if idd < 0 or idd >= D:
                    continue
                for kh in range(KH):
                    ih = oh * sh + kh * dh - ph
                    if ih < 0 or ih >= H:
                        continue
                    for kw in range(KW):
                        iw = ow * sw + kw * dw - pw
                        if iw < 0 or iw >= W:
                            continue
                        acc += w[co, ci, kd, kh, kw] * x[n, c, idd, ih, iw]
        out[n, co, od, oh, ow] = acc
        i += step


def _launch(d_x, d_w, d_b, d_out, stride, dilation, pad, groups) -> None:
    total = d_out.size
    tpb = int(THREADS_PER_BLOCK)
    blocks = max(1, min(int(MAX_BLOCKS), -(-total // tpb)))
    _conv_direct_kernel[blocks, tpb](
        d_x, d_w, d_b, d_out, *(int(v) for v in stride), *(int(v) for v in dilation),
        *(int(v) for v in pad), int(groups))


def conv_direct(x, w, b, has_bias, out, stride, dilation, pad, groups, colblock, nthreads):
    """Direct convolution into ``out`` on the GPU (see the module docstring).

    ``colblock`` and ``nthreads`` belong to the CPU kernels and are ignored.
    """
    N, Co = out.shape[0], out.shape[1]
    if out.size == 0:
        return out
    if not (x.flags.c_contiguous and w.flags.c_contiguous and out.flags.c_contiguous):
        raise ValueError("conv_direct (cuda) needs C-contiguous x, w and out")
    bias = np.ascontiguousarray(b[:Co]) if has_bias else np.zeros(Co, out.dtype)
    d_w = cuda.to_device(w)
    d_b = cuda.to_device(bias.astype(out.dtype, copy=False))
    per_sample = (x[0].nbytes + out[0].nbytes) if N else 1
    chunk = int(max(1, min(N, DEVICE_CHUNK_BYTES // max(per_sample, 1))))
    d_out = None
    for n0 in range(0, N, chunk):
        n1 = min(N, n0 + chunk)
        d_x = cuda.to_device(x[n0:n1])
        if d_out is None or d_out.shape[0] != n1 - n0:
            d_out = cuda.device_array((n1 - n0,) + out.shape[1:], out.dtype)
        _launch(d_x, d_w, d_b, d_out, stride, dilation, pad, groups)
        d_out.copy_to_host(out[n0:n1])
    return out
