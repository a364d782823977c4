"""Polyphase split and merge, Numba backend (contract of ``kernels/cython/phase.pyx``)."""

from numba import njit, prange

from ..._config import FASTMATH
from ...threads import numba_threads


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _split(x, xs, dh, dw, ph, pw):
    P, N, C, Hg, Wg = xs.shape
    H, W = x.shape[2], x.shape[3]
    for it in prange(P * N * C):
        p = it // (N * C)
        n = (it // C) % N
        c = it % C
        a = p // dw
        b = p % dw
        for j in range(Hg):
            ih = dh * j + a - ph
            for k in range(Wg):
                iw = dw * k + b - pw
                inside = 0 <= ih < H and 0 <= iw < W
                xs[p, n, c, j, k] = x[n, c, max(ih, 0), max(iw, 0)] if inside else 0


@njit(cache=True, fastmath=FASTMATH, parallel=True)
def _merge(res, out, dh, dw):
    N, Co, OH, OW = out.shape
    for it in prange(N * Co * OH):
        n = it // (Co * OH)
        co = (it // OH) % Co
        oh = it % OH
        a = oh % dh
        i = oh // dh
        for b in range(dw):
            for j in range((OW - b + dw - 1) // dw):
                out[n, co, oh, b + j * dw] = res[a * dw + b, n, co, i, j]


def split(x, xs, dh, dw, ph, pw, threads):
    numba_threads(max(1, threads))
    _split(x, xs, dh, dw, ph, pw)


def merge(res, out, dh, dw, threads):
    numba_threads(max(1, threads))
    _merge(res, out, dh, dw)
