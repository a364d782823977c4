"""Polyphase split and merge (Cython/OpenMP backend).

A stride-1 convolution with dilation ``(dh, dw)`` is ``dh * dw`` independent
undilated convolutions, one per phase ``(a, b)`` of the output grid: output
``(dh*i + a, dw*j + b)`` reads only input rows ``dh*. + a`` and columns
``dw*. + b`` of the padded input.  ``split`` cuts the padded input into those
phases (stacked along the batch axis, phase-major), ``merge`` interleaves the
phase outputs back.  Parallel over planes; inputs are ``const``.
"""

from cython.parallel cimport prange

from .fused cimport real


def split(const real[:, :, :, ::1] x, real[:, :, :, :, ::1] xs, Py_ssize_t dh,
          Py_ssize_t dw, Py_ssize_t ph, Py_ssize_t pw, int threads):
    """xs[a*dw + b, n, c, j, k] = x[n, c, dh*j + a - ph, dw*k + b - pw] (0 outside)."""
    cdef Py_ssize_t P = xs.shape[0], N = xs.shape[1], C = xs.shape[2]
    cdef Py_ssize_t Hg = xs.shape[3], Wg = xs.shape[4]
    cdef Py_ssize_t H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t it, p, n, c, a, b, j, k, ih, lo, hi
    cdef const real* src
    cdef real* dst
    with nogil:
        for it in prange(P * N * C, num_threads=threads, schedule="static"):
            p = it // (N * C)
            n = (it // C) % N
            c = it % C
            a = p // dw
            b = p % dw
            dst = &xs[p, n, c, 0, 0]
            for j in range(Hg):
                ih = dh * j + a - ph
                if ih < 0 or ih >= H:
                    for k in range(Wg):
                        dst[j * Wg + k] = 0
                    continue
                src = &x[n, c, ih, 0] + b - pw
                # columns k with 0 <= dw * k + b - pw < W
                lo = (pw - b + dw - 1) // dw if pw > b else 0
                hi = (W - 1 + pw - b) // dw + 1 if W - 1 + pw - b >= 0 else 0
                hi = min(hi, Wg)
                lo = min(lo, hi)
                for k in range(lo):
                    dst[j * Wg + k] = 0
                for k in range(lo, hi):
                    dst[j * Wg + k] = src[dw * k]
                for k in range(hi, Wg):
                    dst[j * Wg + k] = 0


def merge(const real[:, :, :, :, ::1] res, real[:, :, :, ::1] out, Py_ssize_t dh,
          Py_ssize_t dw, int threads):
    """out[n, co, dh*i + a, dw*j + b] = res[a*dw + b, n, co, i, j] (every output)."""
    cdef Py_ssize_t N = out.shape[0], Co = out.shape[1], OH = out.shape[2]
    cdef Py_ssize_t OW = out.shape[3]
    cdef Py_ssize_t it, n, co, oh, a, i, b, j, cnt
    cdef real* orow
    cdef const real* rrow
    with nogil:
        for it in prange(N * Co * OH, num_threads=threads, schedule="static"):
            n = it // (Co * OH)
            co = (it // OH) % Co
            oh = it % OH
            a = oh % dh
            i = oh // dh
            orow = &out[n, co, oh, 0]
            for b in range(dw):
                rrow = &res[a * dw + b, n, co, i, 0]
                cnt = (OW - b + dw - 1) // dw
                for j in range(cnt):
                    orow[b + j * dw] = rrow[j]
