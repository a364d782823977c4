"""FFT convolution (overlap-save) for network-style layers.

Serves every case: channels, groups, bias, stride (by subsampling the stride-1
result), dilation (the kernel is dilated before its transform), any padding
mode (non-zero modes arrive materialised; zero padding is applied per tile, never
to the whole input).

The stride-1 correlation is computed tile by tile (overlap-save): each output
tile of ``T`` positions per axis reads ``T + K_eff - 1`` inputs, transformed at
one FFT size ``F = next_fast_len(T + K_eff - 1)`` shared by every tile, so the
kernel spectra are computed once per call and memory stays proportional to a
tile whatever the image size.  The per-frequency channel contraction
``Y[n, o] = sum_c X[n, c] * conj(W[o, c])`` is a batched complex product.
Real FFTs go through ``scipy.fft`` (``workers`` = fastconv's thread count; the
``mkl_fft`` backend when installed, see ``fastconv._fft``).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _config, _fft

#: pocketfft real-FFT throughput on this machine class, "5 N log2 N" flop/s per thread
FFT_RATE = 3.0e9
CONTRACT_RATE = 4e9  # complex multiply-adds (as 8 real flop) per second per thread


def supports(spec) -> str | None:
    return None


def _eff(spec):
    return tuple(d * (k - 1) + 1 for k, d in zip(spec.kernel, spec.dilation))


def _geometry(spec):
    """(stride-1 output length needed per axis, tile length per axis, FFT shape)."""
    keff = _eff(spec)
    need = tuple((o - 1) * s + 1 for o, s in zip(spec.out_size, spec.stride))
    item = 2 * spec.dtype.itemsize  # complex
    planes = spec.batch * spec.in_channels + spec.out_channels * spec.in_per_group
    tiles = []
    for q, k, s in zip(need, keff, spec.stride):
        whole = q + k - 1
        # tile only when the axis is much larger than the kernel
        t = q if whole <= max(8 * k, 1024) else max(7 * k, 256)
        t = max(s, (t // s) * s) if t < q else q  # tiles start on stride multiples
        tiles.append(t)
    tiles = list(tiles)

    def shape():
        return tuple(_fft.fast_len(t + k - 1) for t, k in zip(tiles, keff))

    # keep the spectra of one tile within the workspace limit
    while math.prod(shape()) * item * planes > _config.WORKSPACE_LIMIT * 4:
        i = int(np.argmax([t / k for t, k in zip(tiles, keff)]))
        if tiles[i] <= max(keff[i], spec.stride[i]):
            break
        s = spec.stride[i]
        tiles[i] = max(s, (tiles[i] // 2 // s) * s)
    return need, tuple(tiles), shape()


def options(spec, threads: int) -> dict:
    need, tiles, fshape = _geometry(spec)
    return {"tile": tiles, "fft_shape": fshape, "fft": _fft.backend_name()}


def estimate(spec, threads: int) -> tuple[float, int]:
    need, tiles, fshape = _geometry(spec)
    ntiles = math.prod(-(-q // t) for q, t in zip(need, tiles))
    F = math.prod(fshape)
    fft1 = 2.5 * F * math.log2(max(F, 2))  # real FFT: half of 5 N log N
    n_in = spec.batch * spec.in_channels
    n_out = spec.batch * spec.out_channels
    ffts = ntiles * (n_in + n_out) * fft1
    kernel_ffts = spec.out_channels * spec.in_per_group * fft1
    contract = ntiles * 8 * spec.batch * spec.out_channels * spec.in_per_group * F / 2
    t = (ffts + kernel_ffts) / (FFT_RATE * threads) + contract / (CONTRACT_RATE * threads)
    ws = (n_in + n_out + spec.out_channels * spec.in_per_group) * F * 2 * spec.dtype.itemsize
    return t + 50e-6 + ntiles * 20e-6, ws


def pack_weight(spec, plan, w) -> np.ndarray:
    """Kernel spectra ``conj(W)`` at the plan's FFT size: (C_out, C_in/groups, *F_r)."""
    nd = spec.nd
    keff = _eff(spec)
    wd = np.zeros(w.shape[:2] + keff, w.dtype)
    wd[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in spec.dilation)] = w
    axes = tuple(range(2, 2 + nd))
    with _fft.backend() as sfft:
        W = sfft.rfftn(wd, plan.options["fft_shape"], axes=axes, workers=plan.threads)
    return np.conj(W)


def _window(x, starts, sizes, pad_before):
    """x[..., start - pad : start - pad + size] per spatial axis, zero outside x."""
    nd = len(sizes)
    win = np.zeros(x.shape[:2] + tuple(sizes), x.dtype)
    src, dst = [slice(None)] * 2, [slice(None)] * 2
    for ax in range(nd):
        lo = starts[ax] - pad_before[ax]
        L = x.shape[2 + ax]
        a, b = max(lo, 0), min(lo + sizes[ax], L)
        if b <= a:
            return win
        src.append(slice(a, b))
        dst.append(slice(a - lo, b - lo))
    win[tuple(dst)] = x[tuple(src)]
    return win


def forward(spec, plan, x, w, b, out, packed=None) -> None:
    nd = spec.nd
    keff = _eff(spec)
    need, tiles, fshape = _geometry(spec)
    Wc = packed if packed is not None else pack_weight(spec, plan, w)
    G, cig, cog = spec.groups, spec.in_per_group, spec.out_per_group
    axes = tuple(range(2, 2 + nd))
    workers = plan.threads
    grids = [range(0, q, t) for q, t in zip(need, tiles)]
    with _fft.backend() as sfft:
        for starts in np.ndindex(*[len(g) for g in grids]):
            q0 = tuple(g[i] for g, i in zip(grids, starts))
            qlen = tuple(min(t, q - s) for t, q, s in zip(tiles, need, q0))
            xin = _window(x, q0, tuple(t + k - 1 for t, k in zip(tiles, keff)),
                          spec.pad_before)
            X = sfft.rfftn(xin, fshape, axes=axes, workers=workers)
            Y = np.empty((spec.batch, spec.out_channels) + X.shape[2:], X.dtype)
            for g in range(G):
                Xg = X[:, g * cig:(g + 1) * cig]
                Wg = Wc[g * cog:(g + 1) * cog]
                if cig == 1:
                    np.multiply(Xg, Wg[None, :, 0], out=Y[:, g * cog:(g + 1) * cog])
                else:
                    Y[:, g * cog:(g + 1) * cog] = np.einsum(
                        "nc...,oc...->no...", Xg, Wg, optimize=True)
            y = sfft.irfftn(Y, fshape, axes=axes, workers=workers)
            # stride-1 positions q0 .. q0+qlen-1 -> strided outputs
            sel = (slice(None), slice(None)) + tuple(
                slice(0, ql, s) for ql, s in zip(qlen, spec.stride))
            dst = (slice(None), slice(None)) + tuple(
                slice(s0 // s, s0 // s + -(-ql // s)) for s0, ql, s in zip(q0, qlen, spec.stride))
            out[dst] = y[sel]
    if spec.has_bias:
        out += b.reshape((1, -1) + (1,) * nd)
