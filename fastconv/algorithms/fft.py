"""FFT convolution (overlap-save) for network-style layers.

Serves every case: channels, groups, bias, stride (by subsampling the stride-1
result), dilation (the kernel is dilated before its transform), any padding
mode (non-zero modes arrive materialised; zero padding is applied per tile, never
to the whole input).

The stride-1 correlation is computed by overlap-save: each output tile of
``T`` positions per axis reads ``T + K_eff - 1`` inputs (a strided view, no
copy), transformed at one FFT size ``F = next_fast_len(T + K_eff - 1)`` shared by
every tile, so the kernel spectra are computed once per call.  Tiles are
transformed in batches (one ``rfftn`` call per chunk of tile rows, bounded by
the workspace limit), so memory stays proportional to the input whatever the
kernel, and Python overhead does not grow with the number of tiles.  The
per-frequency channel contraction
``Y[n, o] = sum_c X[n, c] * conj(W[o, c])`` is a batched complex product.
Real FFTs go through ``scipy.fft`` (``workers`` = fastconv's thread count; the
``mkl_fft`` backend when installed, see ``fastconv._fft``).
"""

from __future__ import annotations

import math

import numpy as np

from .. import _config, _fft

#: pocketfft real-FFT throughput on this machine class, "5 N log2 N" flop/s per
#: thread (fitted: 512^2/31x31, 1024^2/31x31, 2048^2/63x63, 3->16 256^2/11x11 and
#: 100k/1001 were all 2.4-3x faster than a 3e9 model predicted)
FFT_RATE = 7.5e9
CONTRACT_RATE = 4e9  # complex multiply-adds (as 8 real flop) per second per thread


def supports(spec) -> str | None:
    return None


def error_bound(spec) -> float:
    """Relative error bound (vs the output's scale): the direct sum's
    ``2 eps sqrt(K)`` times the FFT's ``log2(F)`` growth.  Measured errors are
    10-100x below it (float32, unit-scale data: 3e-7 for 31x31 on 512^2)."""
    eps = np.finfo(spec.dtype).eps / 2
    F = math.prod(_geometry(spec)[2])
    return 2 * eps * math.sqrt(spec.in_per_group * spec.taps) * max(1.0, math.log2(F))


def _eff(spec):
    return tuple(d * (k - 1) + 1 for k, d in zip(spec.kernel, spec.dilation, strict=True))


def _geometry(spec):
    """(stride-1 output length needed per axis, tile length per axis, FFT shape)."""
    keff = _eff(spec)
    need = tuple((o - 1) * s + 1 for o, s in zip(spec.out_size, spec.stride, strict=True))
    item = 2 * spec.dtype.itemsize  # complex
    planes = spec.batch * spec.in_channels + spec.out_channels * spec.in_per_group
    tiles = []
    for q, k, s in zip(need, keff, spec.stride, strict=True):
        whole = q + k - 1
        # tile only when the axis is much larger than the kernel
        t = q if whole <= max(8 * k, 1024) else max(7 * k, 256)
        t = max(s, (t // s) * s) if t < q else q  # tiles start on stride multiples
        tiles.append(t)
    tiles = list(tiles)

    def shape():
        return tuple(_fft.fast_len(t + k - 1) for t, k in zip(tiles, keff, strict=True))

    # keep the spectra of one tile within the workspace limit
    while math.prod(shape()) * item * planes > _config.WORKSPACE_LIMIT * 4:
        i = int(np.argmax([t / k for t, k in zip(tiles, keff, strict=True)]))
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
    ntiles = math.prod(-(-q // t) for q, t in zip(need, tiles, strict=True))
    F = math.prod(fshape)
    fft1 = 2.5 * F * math.log2(max(F, 2))  # real FFT: half of 5 N log N
    n_in = spec.batch * spec.in_channels
    n_out = spec.batch * spec.out_channels
    ffts = ntiles * (n_in + n_out) * fft1
    kernel_ffts = spec.out_channels * spec.in_per_group * fft1
    contract = ntiles * 8 * spec.batch * spec.out_channels * spec.in_per_group * F / 2
    # many small planes (channels x batch, and the kernel spectra) transform at about
    # half the single-plane rate (fitted on LeNet, stem, ResNet, 3->16 11x11, 3-D)
    rate = FFT_RATE * (1.0 if n_in + spec.out_channels * spec.in_per_group <= 3 else 0.5)
    t = (ffts + kernel_ffts) / (rate * threads) + contract / (CONTRACT_RATE * threads)
    # per-plane overhead of batched transforms (dominates for tiny planes, e.g.
    # 450 x 22 planes of 8x8 in the digits example: fitted 0.5 us per plane)
    t += ntiles * (n_in + n_out) * 0.5e-6 / threads
    item = spec.dtype.itemsize
    padded = spec.batch * spec.in_channels * math.prod(
        n * t + k - 1
        for n, t, k in zip((-(-q // t) for q, t in zip(need, tiles, strict=True)), tiles,
                                         _eff(spec), strict=True))
    spectra = spec.out_channels * spec.in_per_group * F * 2 * item
    chunk = min(_config.WORKSPACE_LIMIT, ntiles * F * item * (n_in + 3 * n_out))
    return t + 60e-6, padded * item + spectra + chunk


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


def _tiles_view(xp, tiles, tin):
    """(N, C, *ntiles, *tin) overlapping-window view of the padded input."""
    nd = len(tiles)
    nt = tuple((xp.shape[2 + i] - tin[i]) // tiles[i] + 1 for i in range(nd))
    st = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, xp.shape[:2] + nt + tuple(tin),
        st[:2] + tuple(st[2 + i] * tiles[i] for i in range(nd)) + st[2:], writeable=False)


def forward(spec, plan, x, w, b, out, packed=None) -> None:
    nd = spec.nd
    keff = _eff(spec)
    need, tiles, fshape = _geometry(spec)
    Wc = packed if packed is not None else pack_weight(spec, plan, w)
    G, cig, cog = spec.groups, spec.in_per_group, spec.out_per_group
    N, C, Co = spec.batch, spec.in_channels, spec.out_channels
    nt = tuple(-(-q // t) for q, t in zip(need, tiles, strict=True))
    tin = tuple(t + k - 1 for t, k in zip(tiles, keff, strict=True))
    # zero-padded input covering every tile (its size is the input's plus the
    # padding and one tile of slack; the tiles themselves are views into it)
    full = tuple(n * t + k - 1 for n, t, k in zip(nt, tiles, keff, strict=True))
    xp = np.zeros((N, C) + full, x.dtype)
    src = tuple(slice(0, min(L, f - p))
                for L, f, p in zip(spec.in_size, full, spec.pad_before, strict=True))
    dst = tuple(slice(p, p + s.stop) for p, s in zip(spec.pad_before, src, strict=True))
    xp[(slice(None), slice(None)) + dst] = x[(slice(None), slice(None)) + src]
    view = _tiles_view(xp, tiles, tin)
    # spectra of a chunk of tile rows (along the first tiled axis) at a time
    # per tile row: X and Y spectra (complex) + the real result and its reordered copy
    per_row = math.prod(nt[1:]) * math.prod(fshape) * spec.dtype.itemsize * N * (C + 3 * Co)
    rows = max(1, min(nt[0], int(_config.WORKSPACE_LIMIT // max(per_row, 1))))
    taxes = tuple(range(2 + nd, 2 + 2 * nd))
    ost = tuple(-(-t // s) for t, s in zip(tiles, spec.stride, strict=True))  # outputs per tile
    workers = plan.threads
    with _fft.backend() as sfft:
        for r0 in range(0, nt[0], rows):
            r1 = min(nt[0], r0 + rows)
            X = sfft.rfftn(view[:, :, r0:r1], fshape, axes=taxes, workers=workers)
            Y = np.empty((N, Co) + X.shape[2:], X.dtype)
            for g in range(G):
                Xg = X[:, g * cig:(g + 1) * cig]
                Wg = Wc[g * cog:(g + 1) * cog]
                Wg = Wg.reshape(Wg.shape[:2] + (1,) * nd + Wg.shape[2:])  # tile axes
                if cig == 1:
                    np.multiply(Xg, Wg[None, :, 0], out=Y[:, g * cog:(g + 1) * cog])
                else:
                    Y[:, g * cog:(g + 1) * cog] = np.einsum(
                        "nc...,oc...->no...", Xg, Wg, optimize=True)
            y = sfft.irfftn(Y, fshape, axes=taxes, workers=workers)
            y = y[(slice(None), slice(None)) + (slice(None),) * nd + tuple(
                slice(0, t, s) for t, s in zip(tiles, spec.stride, strict=True))]
            # (N, Co, *nt_chunk, *ost) -> (N, Co, *(nt_chunk * ost)) -> crop into out
            perm = (0, 1) + tuple(v for i in range(nd) for v in (2 + i, 2 + nd + i))
            y = y.transpose(perm).reshape(
                (N, Co) + tuple((y.shape[2 + i]) * ost[i] for i in range(nd)))
            o0 = r0 * ost[0]
            n0 = min(out.shape[2] - o0, y.shape[2])
            out[(slice(None), slice(None), slice(o0, o0 + n0)) + tuple(
                slice(0, o) for o in spec.out_size[1:])] = y[
                (slice(None), slice(None), slice(0, n0)) + tuple(
                    slice(0, o) for o in spec.out_size[1:])]
    if spec.has_bias:
        out += b.reshape((1, -1) + (1,) * nd)
