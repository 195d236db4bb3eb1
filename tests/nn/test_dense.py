import numpy as np
import pytest

from matnet.nn import Dense
from matnet.nn.gradcheck import TOLERANCE, check_layer


def test_forward_matches_hand_computation():
    layer = Dense(3, 2)
    layer.params["W"][...] = [[1, 0, -1], [2, 1, 0]]   # row j = neuron j's weights
    layer.params["b"][...] = [0.5, -1]
    x = np.array([[1, 2, 3], [0, -1, 4]], dtype=np.float32)
    # z = x @ W.T + b: sample 1: [1-3+0.5, 2+2-1] ; sample 2: [0-4+0.5, 0-1-1]
    np.testing.assert_allclose(layer.forward(x), [[-1.5, 3], [-3.5, -2]])


def test_shapes_follow_the_docstring(rng):
    layer = Dense(5, 4, rng=rng)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    z = layer.forward(x, training=True)
    assert z.shape == (3, 4) and z.dtype == np.float32
    dx = layer.backward(np.ones_like(z))
    assert dx.shape == (3, 5)
    assert layer.grads["W"].shape == (4, 5) and layer.grads["b"].shape == (4,)


def test_gradients_match_finite_differences(rng):
    errors = check_layer(Dense(6, 4, rng=rng), rng.standard_normal((5, 6)), rng)
    assert set(errors) == {"dx", "W", "b"}
    assert max(errors.values()) < TOLERANCE


def test_backward_leaves_dout_and_input_alone(rng):
    layer = Dense(4, 3, rng=rng)
    x = rng.standard_normal((2, 4)).astype(np.float32)
    x_before = x.copy()
    dout = rng.standard_normal((2, 3)).astype(np.float32)
    dout_before = dout.copy()
    layer.forward(x, training=True)
    layer.backward(dout)
    np.testing.assert_array_equal(dout, dout_before)
    np.testing.assert_array_equal(x, x_before)


def test_no_input_gradient_when_not_needed(rng):
    layer = Dense(4, 3, rng=rng)
    layer.input_grad = False
    layer.forward(rng.standard_normal((2, 4)).astype(np.float32), training=True)
    assert layer.backward(np.ones((2, 3), np.float32)) is None
    np.testing.assert_allclose(layer.grads["b"], [2, 2, 2])


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match="before forward"):
        Dense(2, 2).backward(np.ones((1, 2)))


def test_wrong_input_width_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3\)"):
        Dense(3, 2).forward(np.ones((4, 5), np.float32))
