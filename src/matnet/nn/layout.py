"""How conv activations are laid out in memory, and the two helpers every conv-side layer uses.

Arrays are always *indexed* (N, C, H, W), as in PyTorch. Their *memory* is channels-last, (N, H, W, C): a
Conv2D's output is its matrix product's rows (one per position, a column per channel) seen as (N, C, H, W), and
the layers after it keep that layout. Then "one row per position" is a free view, per-channel work (BatchNorm,
the conv's bias) is column work on a tall matrix, and the next im2col reads contiguous runs of channels.
"""

from __future__ import annotations

from matnet.backend import xp

__all__ = ["as_rows", "from_rows", "column_sums", "WideRows"]


def as_rows(x):
    """x: (N, C, H, W) -> (N*H*W, C), one row per position: a view when x is channels-last, else a copy."""
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def from_rows(rows, n: int, h: int, w: int):
    """rows: (N*H*W, C) -> (N, C, H, W), a view with channels-last memory (the inverse of ``as_rows``)."""
    return rows.reshape(n, h, w, rows.shape[1]).transpose(0, 3, 1, 2)


def column_sums(a):
    """a: (M, C) -> (C,), the sum of each column, as ``ones(M) @ a``: a BLAS product reads the tall matrix once,
    where ``a.sum(axis=0)`` walks it row by row (the README's CNN profile has the figures)."""
    return xp.ones(a.shape[0], dtype=a.dtype) @ a


class WideRows:
    """Per-channel arithmetic on (M, C) rows, done on the same memory seen as (M/r, r*C).

    Broadcasting a (C,) vector down (M, C) rows runs NumPy's inner loop C values at a time, and C is small (32,
    64); with r positions to a row the runs are r times longer. A per-channel vector v becomes ``tile(v)`` (r
    copies side by side) and per-channel sums are ``sums(wide)`` (column sums folded back to C). What it saves
    on the cnn preset's first BatchNorm, (100352, 32): the README's CNN profile.
    """

    def __init__(self, rows):
        self.m, self.c = rows.shape
        self.r = next(r for r in (32, 16, 8, 4, 2, 1) if self.m % r == 0)

    def wide(self, rows):
        """(M, C) -> (M/r, r*C), a free view of contiguous rows."""
        return rows.reshape(self.m // self.r, self.r * self.c)

    def narrow(self, wide):
        """(M/r, r*C) -> (M, C)."""
        return wide.reshape(self.m, self.c)

    def tile(self, v):
        """(C,) -> (r*C,), to broadcast down the wide rows."""
        return xp.tile(v, self.r)

    def sums(self, wide):
        """(M/r, r*C) -> (C,), the sum over all M positions of each channel."""
        return column_sums(wide).reshape(self.r, self.c).sum(axis=0)
