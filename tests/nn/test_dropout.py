"""Dropout: inverted scaling, the drop rate and the expectation within binomial bounds, the mask reused by backward.

Statistical checks use n = 10^5 units and a bound of five standard deviations: a unit is dropped with probability
p, so the observed rate has standard deviation sqrt(p (1 - p) / n) (0.0016 at p = 0.5); a unit's output x * mask
has mean x and standard deviation x sqrt(p / (1 - p)), so the mean of n outputs has sqrt(p / ((1 - p) n)) x.
A correct layer fails such a bound with probability below 1e-6 (and the seeds are fixed); a layer that keeps
instead of drops with probability p, or forgets the 1 / (1 - p), misses it by tens of standard deviations.
"""

import numpy as np
import pytest

from matnet.backend import to_device, to_numpy
from matnet.nn import Dropout
from matnet.nn.gradcheck import TOLERANCE, check_layer

N = 100_000
SIGMAS = 5


def drop_rate_bound(p, n=N):
    return SIGMAS * np.sqrt(p * (1 - p) / n)


def assert_inverted_dropout(out, x, p):
    """Every output is 0 or x / (1 - p) (to the rounding of one product), and both occur."""
    eps = np.finfo(out.dtype).eps
    dropped = out == 0
    kept = np.isclose(out, x / (1 - p), rtol=4 * eps, atol=0)
    assert np.all(dropped | kept), "an output is neither 0 nor x / (1 - p)"
    assert dropped.any() and kept.any()


def assert_drop_rate(out, p):
    rate = float((out == 0).mean())
    assert abs(rate - p) < drop_rate_bound(p, out.size), f"drop rate {rate:.4f} for p = {p}"


def nonzero_input(rng, shape, dtype=np.float32):
    """Standard normal values pushed away from 0, so that an output of 0 can only mean 'dropped'."""
    x = rng.standard_normal(shape)
    return (x + np.copysign(0.1, x)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.8])
def test_every_output_is_zero_or_scaled_and_p_of_them_are_zero(p, dtype, rng):
    x = nonzero_input(rng, (100, N // 100), dtype)
    out = to_numpy(Dropout(p, rng=np.random.default_rng(0)).forward(to_device(x), training=True))
    assert out.dtype == dtype and out.shape == x.shape
    assert_inverted_dropout(out, x, p)
    assert_drop_rate(out, p)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.7])
def test_the_mean_of_a_constant_input_is_the_input(p):
    c = 2.5
    x = to_device(np.full((N // 50, 50), c))
    out = to_numpy(Dropout(p, rng=np.random.default_rng(1)).forward(x, training=True))
    sd_of_mean = c * np.sqrt(p / ((1 - p) * N))
    assert abs(out.mean() - c) < SIGMAS * sd_of_mean, f"mean {out.mean():.4f}, expected {c} +- {sd_of_mean:.4f}"


def test_each_forward_draws_a_fresh_mask():
    # two independent masks agree on a unit with probability p^2 + (1 - p)^2; one mask reused would agree on all
    p = 0.4
    layer = Dropout(p, rng=np.random.default_rng(2))
    ones = to_device(np.ones((100, N // 100)))
    first = to_numpy(layer.forward(ones, training=True)) == 0
    second = to_numpy(layer.forward(ones, training=True)) == 0
    agree, expected = float((first == second).mean()), p**2 + (1 - p) ** 2
    assert abs(agree - expected) < drop_rate_bound(expected)


def test_backward_multiplies_by_the_forward_mask(rng):
    p = 0.3
    layer = Dropout(p, rng=np.random.default_rng(3))
    x, dout = nonzero_input(rng, (40, 50), np.float64), rng.standard_normal((40, 50))
    dout_device = to_device(dout.copy())          # a copy: on NumPy, to_device returns the array itself
    out = to_numpy(layer.forward(to_device(x), training=True))
    dx = to_numpy(layer.backward(dout_device))
    np.testing.assert_array_equal(to_numpy(dout_device), dout)            # backward does not write into dout
    dropped = out == 0
    np.testing.assert_array_equal(dx[dropped], 0)
    np.testing.assert_allclose(dx[~dropped], dout[~dropped] / (1 - p), rtol=1e-15, atol=0)
    assert 0 < dropped.mean() < 1
    np.testing.assert_array_equal(to_numpy(layer.backward(dout_device)), dx)   # the mask is kept, not redrawn


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match="backward\\(\\) called before forward"):
        Dropout(0.5).backward(to_device(np.ones((2, 3))))


def test_gradients_match_finite_differences(rng):
    errors = check_layer(Dropout(0.4, rng=np.random.default_rng(1)), to_device(rng.standard_normal((5, 6))), rng)
    assert errors["dx"] < TOLERANCE


def test_evaluation_mode_is_the_identity(rng):
    layer = Dropout(0.5, rng=np.random.default_rng(4))
    host = nonzero_input(rng, (4, 5))
    x = to_device(host)
    layer.forward(x, training=True)                                       # a training pass first changes nothing
    for out in (layer.forward(x), layer.forward(x, training=False)):
        np.testing.assert_array_equal(to_numpy(out), host)
    np.testing.assert_array_equal(to_numpy(Dropout(0.0).forward(x, training=True)), host)   # p = 0 drops nothing


def test_same_seed_same_masks_other_seed_other_masks():
    x = to_device(np.ones((50, 40)))

    def masks(seed):
        layer = Dropout(0.5, rng=np.random.default_rng(seed))
        return [to_numpy(layer.forward(x, training=True)) == 0 for _ in range(3)]

    for a, b in zip(masks(7), masks(7)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(masks(7)[0], masks(8)[0])
    # a model seeds each Dropout from its own generator: the same model seed gives the same masks
    a, b = Dropout(0.5), Dropout(0.5)
    a.reset_parameters(np.random.default_rng(9))
    b.reset_parameters(np.random.default_rng(9))
    np.testing.assert_array_equal(to_numpy(a.forward(x, training=True)), to_numpy(b.forward(x, training=True)))
    b.reset_parameters(np.random.default_rng(10))
    assert not np.array_equal(to_numpy(a.forward(x, training=True)), to_numpy(b.forward(x, training=True)))


def test_p_out_of_range():
    for p in (1.0, -0.1):
        with pytest.raises(ValueError, match="p must be in"):
            Dropout(p)


@pytest.mark.parametrize("p", [0.3, 0.8])
def test_pytorch_dropout_obeys_the_same_definition(p, torch, rng):
    """Not a comparison of masks (the generators differ) but of meaning: PyTorch's ``dropout(x, p)`` passes the
    same checks as ours, so p is the probability of dropping and survivors are scaled by 1 / (1 - p) in both,
    and the two drop rates agree within the bound on their difference (sqrt(2) standard deviations of one)."""
    x = nonzero_input(rng, (100, N // 100))
    ours = to_numpy(Dropout(p, rng=np.random.default_rng(5)).forward(to_device(x), training=True))
    theirs = torch.nn.functional.dropout(torch.tensor(x), p, training=True).numpy()
    for out in (ours, theirs):
        assert_inverted_dropout(out, x, p)
        assert_drop_rate(out, p)
    assert abs((ours == 0).mean() - (theirs == 0).mean()) < np.sqrt(2) * drop_rate_bound(p)
