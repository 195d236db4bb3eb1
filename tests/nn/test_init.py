import math

import numpy as np
import pytest

from matnet.backend import to_numpy
from matnet.nn import initialize


@pytest.mark.parametrize("kind,expected_std", [
    ("he_normal", math.sqrt(2 / 400)),
    ("he_uniform", math.sqrt(2 / 400)),
    ("xavier_normal", math.sqrt(2 / (400 + 300))),
    ("xavier_uniform", math.sqrt(2 / (400 + 300))),
    ("normal", 1.0),                      # Nielsen's N(0, 1), whatever the fan
])
def test_scale(kind, expected_std):
    W = to_numpy(initialize(kind, np.random.default_rng(0), (300, 400)))
    assert W.shape == (300, 400) and W.dtype == np.float32
    assert abs(W.std() / expected_std - 1) < 0.02
    assert abs(W.mean()) < 0.01 * expected_std * 10


def test_uniform_bounds():
    W = to_numpy(initialize("he_uniform", np.random.default_rng(0), (50, 60)))
    assert np.abs(W).max() <= math.sqrt(6 / 60)


def test_same_seed_same_weights_and_unknown_name():
    a = to_numpy(initialize("he_normal", np.random.default_rng(5), (3, 4)))
    b = to_numpy(initialize("he_normal", np.random.default_rng(5), (3, 4)))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="unknown initialiser"):
        initialize("zeros", np.random.default_rng(0), (2, 2))
