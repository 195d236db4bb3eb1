import numpy as np
import pytest

from matnet.backend import to_device, to_numpy
from matnet.nn import Dense
from matnet.nn.gradcheck import TOLERANCE, check_layer


def test_forward_matches_hand_computation():
    layer = Dense(3, 2)
    layer.params["W"][...] = to_device(np.array([[1, 0, -1], [2, 1, 0]]))   # row j = neuron j's weights
    layer.params["b"][...] = to_device(np.array([0.5, -1]))
    x = to_device(np.array([[1, 2, 3], [0, -1, 4]], dtype=np.float32))
    # z = x @ W.T + b: sample 1: [1-3+0.5, 2+2-1] ; sample 2: [0-4+0.5, 0-1-1]
    np.testing.assert_allclose(to_numpy(layer.forward(x)), [[-1.5, 3], [-3.5, -2]])


def test_shapes_follow_the_docstring(rng):
    layer = Dense(5, 4, rng=rng)
    x = to_device(rng.standard_normal((3, 5)).astype(np.float32))
    z = layer.forward(x, training=True)
    assert z.shape == (3, 4) and z.dtype == np.float32
    dx = layer.backward(to_device(np.ones(z.shape, dtype=z.dtype)))
    assert dx.shape == (3, 5)
    assert layer.grads["W"].shape == (4, 5) and layer.grads["b"].shape == (4,)


def test_gradients_match_finite_differences(rng):
    errors = check_layer(Dense(6, 4, rng=rng), to_device(rng.standard_normal((5, 6))), rng)
    assert set(errors) == {"dx", "W", "b"}
    assert max(errors.values()) < TOLERANCE


def test_backward_leaves_dout_and_input_alone(rng):
    layer = Dense(4, 3, rng=rng)
    x_before = rng.standard_normal((2, 4)).astype(np.float32)
    dout_before = rng.standard_normal((2, 3)).astype(np.float32)
    # copies: on NumPy, to_device returns the array itself, and the check would compare it with itself
    x, dout = to_device(x_before.copy()), to_device(dout_before.copy())
    layer.forward(x, training=True)
    layer.backward(dout)
    np.testing.assert_array_equal(to_numpy(dout), dout_before)
    np.testing.assert_array_equal(to_numpy(x), x_before)


def test_no_input_gradient_when_not_needed(rng):
    layer = Dense(4, 3, rng=rng)
    layer.input_grad = False
    layer.forward(to_device(rng.standard_normal((2, 4)).astype(np.float32)), training=True)
    assert layer.backward(to_device(np.ones((2, 3), np.float32))) is None
    np.testing.assert_allclose(to_numpy(layer.grads["b"]), [2, 2, 2])


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match="before forward"):
        Dense(2, 2).backward(to_device(np.ones((1, 2))))


def test_wrong_input_width_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3\)"):
        Dense(3, 2).forward(to_device(np.ones((4, 5), np.float32)))
