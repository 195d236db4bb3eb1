"""The channels-last helpers, and layers giving the same numbers whatever their input's memory layout."""

import numpy as np
import pytest

from matnet.backend import to_device, to_numpy, xp
from matnet.nn import BatchNorm, Conv2D, MaxPool2D
from matnet.nn.layout import Channels, as_rows, column_sums, from_rows


def channels_last(x):
    """The same (N, C, H, W) values, stored (N, H, W, C) as matnet's layers store them (x on the device: copy()
    makes a C-ordered array on every backend)."""
    return x.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2)


def test_rows_of_a_channels_last_array_are_a_free_view(rng):
    host = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    x = channels_last(to_device(host))
    rows = as_rows(x)
    assert rows.shape == (2 * 4 * 5, 3) and xp.shares_memory(rows, x)
    np.testing.assert_array_equal(to_numpy(rows[4 * 5 + 5 + 2]), host[1, :, 1, 2])     # sample 1, position (1, 2)
    back = from_rows(rows, 2, 4, 5)
    np.testing.assert_array_equal(to_numpy(back), host)
    assert xp.shares_memory(back, x)
    first = to_device(host)                                                # channels-first: a copy, same values
    assert first.flags.c_contiguous and not xp.shares_memory(as_rows(first), first)
    np.testing.assert_array_equal(to_numpy(as_rows(first)), to_numpy(rows))


@pytest.mark.parametrize("m", [96, 36, 7], ids=["r32", "r4", "r1"])
def test_channels_give_the_per_channel_sums_means_and_broadcasts_of_the_rows(m, rng):
    host_rows = rng.standard_normal((m, 5))
    host_v = rng.standard_normal(5)
    rows, v = to_device(host_rows), to_device(host_v)
    ch = Channels(rows)
    assert m % ch.r == 0 and ch.values(rows).shape == (m // ch.r, 5 * ch.r)
    np.testing.assert_allclose(to_numpy(ch.sum(ch.values(rows))), host_rows.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(ch.mean(ch.values(rows))), host_rows.mean(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(to_numpy(ch.shaped(ch.values(rows) * ch.each(v))), host_rows * host_v)
    np.testing.assert_allclose(to_numpy(column_sums(rows)), host_rows.sum(axis=0), rtol=1e-12)


def test_channels_of_conv_activations_are_per_channel_over_batch_and_positions(rng):
    host = rng.standard_normal((2, 3, 4, 4))
    x = channels_last(to_device(host))
    ch = Channels(x)
    np.testing.assert_allclose(to_numpy(ch.mean(ch.values(x))), host.mean(axis=(0, 2, 3)), rtol=1e-12)
    back = ch.shaped(ch.values(x) - ch.each(ch.mean(ch.values(x))))
    assert back.shape == host.shape
    np.testing.assert_allclose(to_numpy(back), host - host.mean(axis=(0, 2, 3), keepdims=True), atol=1e-12)


@pytest.mark.parametrize("make", [lambda: Conv2D(3, 4, 3, padding=1), lambda: BatchNorm(3), lambda: MaxPool2D(2),
                                  lambda: MaxPool2D(3, stride=1)], ids=["conv", "batchnorm", "maxpool", "maxpool-s1"])
def test_layers_give_the_same_numbers_for_either_memory_layout(make, rng):
    x = to_device(rng.standard_normal((2, 3, 6, 6)).astype(np.float32))
    first, last = make(), make()
    out_first, out_last = first.forward(x, training=True), last.forward(channels_last(x), training=True)
    np.testing.assert_allclose(to_numpy(out_first), to_numpy(out_last), rtol=1e-6, atol=1e-6)
    dout = to_device(rng.standard_normal(out_first.shape).astype(np.float32))
    np.testing.assert_allclose(to_numpy(first.backward(dout)), to_numpy(last.backward(channels_last(dout))),
                               rtol=1e-5, atol=1e-6)


def test_overlapping_max_pool_ties_route_each_window_once():
    pool = MaxPool2D(2, stride=1)
    pool.forward(to_device(np.ones((1, 1, 3, 3), np.float32)), training=True)
    dx = to_numpy(pool.backward(to_device(np.array([[[[1, 2], [3, 4]]]], np.float32))))
    np.testing.assert_array_equal(dx[0, 0], [[1, 2, 0], [3, 4, 0], [0, 0, 0]])   # each to its window's top left

