"""Mini-batches for the training loop: a fresh random order each pass, each batch gathered on the device."""

from __future__ import annotations

import numpy as np

from matnet.backend import xp

__all__ = ["BatchIterator"]


class BatchIterator:
    """Mini-batches ``(x[idx], y[idx])`` in a fresh random order each pass, drawn from the Generator ``rng``.

    Only the index vector is shuffled; each batch gathers its own rows, so an epoch never copies the dataset.
    The last batch may be smaller. ``batches(order, start)`` resumes an epoch part-way: the same ``order`` and
    ``start = k`` give the batches a full pass gives from its (k+1)-th on.
    """

    def __init__(self, x, y, batch_size: int, *, shuffle: bool = True, rng: np.random.Generator | None = None):
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        self.x, self.y, self.batch_size, self.shuffle = x, y, int(batch_size), shuffle
        self.rng = rng if rng is not None else np.random.default_rng(0)

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __iter__(self):
        return self.batches(self.order())

    def order(self):
        """This pass's order of the rows (None: unshuffled), drawn from ``rng``."""
        return xp.asarray(self.rng.permutation(len(self.x))) if self.shuffle else None

    def batches(self, order, start: int = 0):
        for begin in range(start * self.batch_size, len(self.x), self.batch_size):
            if order is None:
                yield self.x[begin:begin + self.batch_size], self.y[begin:begin + self.batch_size]
            else:
                idx = order[begin:begin + self.batch_size]
                yield xp.take(self.x, idx, axis=0), xp.take(self.y, idx, axis=0)
