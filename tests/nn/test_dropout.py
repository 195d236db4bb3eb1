import numpy as np
import pytest

from matnet.nn import Dropout
from matnet.nn.gradcheck import TOLERANCE, check_layer


def test_eval_mode_is_the_identity(rng):
    x = rng.standard_normal((4, 5)).astype(np.float32)
    np.testing.assert_array_equal(Dropout(0.5).forward(x), x)


def test_training_zeroes_about_p_and_keeps_the_mean():
    layer = Dropout(0.3, rng=np.random.default_rng(0))
    out = layer.forward(np.ones((200, 500), np.float32), training=True)
    assert abs((out == 0).mean() - 0.3) < 0.01
    np.testing.assert_allclose(out[out != 0], 1 / 0.7, rtol=1e-6)   # inverted: survivors scaled up
    assert abs(out.mean() - 1.0) < 0.01


def test_backward_uses_the_same_mask(rng):
    layer = Dropout(0.5, rng=np.random.default_rng(3))
    out = layer.forward(np.ones((3, 8), np.float32), training=True)
    np.testing.assert_array_equal(layer.backward(np.ones((3, 8), np.float32)), out)


def test_same_seed_same_masks():
    a = Dropout(0.5, rng=np.random.default_rng(7)).forward(np.ones((4, 4)), training=True)
    b = Dropout(0.5, rng=np.random.default_rng(7)).forward(np.ones((4, 4)), training=True)
    np.testing.assert_array_equal(a, b)


def test_gradients_match_finite_differences(rng):
    errors = check_layer(Dropout(0.4, rng=np.random.default_rng(1)), rng.standard_normal((5, 6)), rng)
    assert errors["dx"] < TOLERANCE


def test_p_out_of_range():
    with pytest.raises(ValueError, match="p must be in"):
        Dropout(1.0)
