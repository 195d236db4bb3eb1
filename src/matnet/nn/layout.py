"""Windows and channels: the one module with the machinery that conv.py, pool.py and batchnorm.py share.

Layout. Arrays are always *indexed* (N, C, H, W), as in PyTorch. Their *memory* is channels-last, (N, H, W, C):
a Conv2D's output is its matrix product's rows (one per position, a column per channel) seen as (N, C, H, W),
and the layers after it keep that layout. Then "one row per position" is a free view (``as_rows``), per-channel
work is column work on a tall matrix (``Channels``), and the next im2col reads contiguous runs of channels.

Windows. A k x k window with stride s at output position (i, j) reads input positions (i*s + u, j*s + v) for the
kernel positions u, v in 0..k-1. ``window_view(a, u, v, ...)`` is what kernel position (u, v) reads in every
window at once, a strided view; ``im2col`` copies the windows into rows of a matrix, and ``col2im`` adds
per-window values back where they were read (im2col's transpose). ``blocks`` sees non-overlapping windows
(s = k) as axes of their own, with no copy.
"""

from __future__ import annotations

from matnet.backend import xp

__all__ = ["as_rows", "from_rows", "column_sums", "Channels", "pad", "window_view", "windows", "im2col", "col2im",
           "blocks"]


# --- layout: (N, C, H, W) indices, channels-last memory ---------------------------------------------------------

def as_rows(x):
    """x: (N, C, H, W) -> (N*H*W, C), one row per position: a view when x is channels-last, else a copy."""
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def from_rows(rows, n: int, h: int, w: int):
    """rows: (N*H*W, C) -> (N, C, H, W), a view with channels-last memory (the inverse of ``as_rows``)."""
    return rows.reshape(n, h, w, rows.shape[1]).transpose(0, 3, 1, 2)


def column_sums(a):
    """a: (M, C) -> (C,), the sum of each column, as ``ones(M) @ a``: a BLAS product reads the tall matrix once,
    where ``a.sum(axis=0)`` walks it row by row (the CNN profile in docs/benchmarks.md has the figures)."""
    return xp.ones(a.shape[0], dtype=a.dtype) @ a


# --- channels: per-channel arithmetic ----------------------------------------------------------------------------

class Channels:
    """Per-channel sums and broadcasts over activations x: (N, C) or (N, C, H, W), i.e. over their (M, C) rows.

    ``values(x)`` gives x's values to compute with, ``each(v)`` a per-channel vector v: (C,) ready to combine
    with them, ``sum(a)``/``mean(a)`` each channel's sum/mean over all M rows, ``shaped(a)`` the result back in
    x's shape. So BatchNorm's ``centred = x - mean`` reads ``values(x) - each(mean)``.

    What it hides, for speed: the (M, C) rows are used as (M/r, r*C), r positions to a row, the same memory.
    Broadcasting a (C,) vector down (M, C) runs NumPy's inner loop C values at a time, and C is small (32, 64);
    with r positions to a row the runs are r times longer (``each`` repeats v r times). On the cnn preset's first
    BatchNorm, (100352, 32), that made an operation 1.6 -> 1.15 ms (the CNN profile in docs/benchmarks.md).
    """

    def __init__(self, x):
        self.shape = tuple(x.shape)
        rows = self._rows(x)
        self.m, self.c = rows.shape
        self.r = next(r for r in (32, 16, 8, 4, 2, 1) if self.m % r == 0)

    @staticmethod
    def _rows(x):
        return x if x.ndim == 2 else as_rows(x)

    def values(self, x):
        """x (this shape) -> its values as (M/r, r*C): a free view when x is channels-last."""
        return self._rows(x).reshape(self.m // self.r, self.r * self.c)

    def each(self, v):
        """v: (C,) -> (r*C,), broadcasting down ``values``."""
        return xp.tile(v, self.r)

    def sum(self, a):
        """a: (M/r, r*C) -> (C,), the sum over all M positions of each channel (BLAS column sums)."""
        return column_sums(a).reshape(self.r, self.c).sum(axis=0)

    def mean(self, a):
        """a: (M/r, r*C) -> (C,), each channel's mean over the M positions."""
        return self.sum(a) / self.m

    def shaped(self, a):
        """a: (M/r, r*C) -> x's shape, (N, C) or (N, C, H, W) with channels-last memory."""
        rows = a.reshape(self.m, self.c)
        if len(self.shape) == 2:
            return rows
        n, _, h, w = self.shape
        return from_rows(rows, n, h, w)


# --- windows -----------------------------------------------------------------------------------------------------

def pad(x, p: int):
    """x: (N, C, H, W) -> (N, C, H + 2p, W + 2p) with a zero border, stored channels-last (``xp.pad`` would
    return channels-first memory, and im2col would then gather every channel from far apart)."""
    n, c, h, w = x.shape
    padded = xp.zeros((n, h + 2 * p, w + 2 * p, c), dtype=x.dtype)
    padded[:, p:p + h, p:p + w, :] = x.transpose(0, 2, 3, 1)
    return padded.transpose(0, 3, 1, 2)


def window_view(a_cl, u: int, v: int, stride: int, ho: int, wo: int):
    """a_cl: (N, H, W, C) -> the (N, Ho, Wo, C) view of what kernel position (u, v) reads in each of the Ho x Wo
    windows: a_cl[n, i*s + u, j*s + v, c] at [n, i, j, c] (no copy)."""
    return a_cl[:, u:u + stride * (ho - 1) + 1:stride, v:v + stride * (wo - 1) + 1:stride, :]


def windows(x, k: int, stride: int):
    """x: (N, C, H, W) -> a strided view (N, C, Ho, Wo, k, k) of every k x k window (no copy)."""
    return xp.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]


def blocks(x_cl, k: int, ho: int, wo: int):
    """x_cl: (N, H, W, C) -> (N, Ho, k, Wo, k, C), the non-overlapping k x k windows (stride k): window (i, j)'s
    kernel position (u, v) at [n, i, u, j, v, c]. A free view when x_cl is contiguous and H = Ho*k, W = Wo*k;
    rows and columns past the last whole window are left out (a copy then)."""
    n, c = x_cl.shape[0], x_cl.shape[3]
    return x_cl[:, :ho * k, :wo * k, :].reshape(n, ho, k, wo, k, c)


def im2col(x, k: int, stride: int):
    """x: (N, C, H, W) -> cols: (N*Ho*Wo, k*k*C), one row per output position, columns in (u, v, c) order (the one
    copy a convolution makes). The channel varies fastest: activations are stored channels-last, so the copy
    reads contiguous runs."""
    n, c, h, w = x.shape
    ho, wo = (h - k) // stride + 1, (w - k) // stride + 1
    if c > 1:
        return windows(x, k, stride).transpose(0, 2, 3, 4, 5, 1).reshape(n * ho * wo, k * k * c), (ho, wo)
    # One channel (the input images): runs of one value would make that copy element by element; copying one
    # kernel position at a time reads whole image rows instead (the CNN profile in docs/benchmarks.md has the figures).
    x_cl = x.transpose(0, 2, 3, 1)
    cols = xp.empty((n, ho, wo, k, k), dtype=x.dtype)
    for u in range(k):
        for v in range(k):
            cols[:, :, :, u, v] = window_view(x_cl, u, v, stride, ho, wo)[..., 0]
    return cols.reshape(n * ho * wo, k * k), (ho, wo)


def col2im(block, shape, k: int, stride: int, ho: int, wo: int):
    """im2col's transpose: dx (N, C, H, W) = the sum, over kernel positions (u, v), of block(u, v) (N, Ho, Wo, C)
    added at the input positions (i*s + u, j*s + v) that position read. Loops over the k*k kernel positions only;
    dx is stored channels-last, like the activations.

    With ``block(u, v)`` the (u, v) columns of a (N*Ho*Wo, k*k*C) matrix, each window's gradient is added back
    where the window was read; a callable, so that a caller can make each block when it is needed (the conv's
    backward never builds the whole matrix)."""
    n, c, h, w = shape
    dx = None
    for u in range(k):
        for v in range(k):
            part = block(u, v)
            if dx is None:
                dx = xp.zeros((n, h, w, c), dtype=part.dtype)
            dx_at = window_view(dx, u, v, stride, ho, wo)
            dx_at += part
    return dx.transpose(0, 3, 1, 2)
