"""The trainer's mini-batches: every sample once an epoch, rows with their labels, a seeded order."""

import numpy as np
import pytest

from matnet.train.batches import BatchIterator


def test_batches_cover_every_sample_once_per_epoch():
    x = np.arange(10, dtype=np.float32)[:, None].repeat(3, axis=1)
    y = np.arange(10)
    batches = BatchIterator(x, y, 4, rng=np.random.default_rng(0))
    assert len(batches) == 3
    seen = []
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], yb)   # rows stay with their labels
        seen.extend(yb.tolist())
    assert sorted(seen) == list(range(10)) and [len(b[1]) for b in batches] == [4, 4, 2]


def test_order_is_seeded_and_changes_between_epochs():
    x, y = np.zeros((50, 2)), np.arange(50)
    a = [yb.tolist() for _, yb in BatchIterator(x, y, 50, rng=np.random.default_rng(1))]
    b = [yb.tolist() for _, yb in BatchIterator(x, y, 50, rng=np.random.default_rng(1))]
    assert a == b
    it = BatchIterator(x, y, 50, rng=np.random.default_rng(1))
    first, second = [yb.tolist() for _, yb in it], [yb.tolist() for _, yb in it]
    assert first != second


def test_unshuffled_batches_are_views():
    x, y = np.zeros((8, 2)), np.arange(8)
    xb, _ = next(iter(BatchIterator(x, y, 4, shuffle=False)))
    assert np.shares_memory(xb, x)


def test_mismatched_lengths():
    with pytest.raises(ValueError, match="x has 3 rows but y has 2"):
        BatchIterator(np.zeros((3, 1)), np.zeros(2), 2)
