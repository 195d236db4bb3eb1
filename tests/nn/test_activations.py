import numpy as np
import pytest

from matnet.backend import to_device, to_numpy
from matnet.nn import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh, softmax
from matnet.nn.gradcheck import TOLERANCE, _away_from_zero, check_layer


def test_relu_of_spec_example():
    np.testing.assert_array_equal(to_numpy(ReLU().forward(to_device(np.array([[-1.0, 0.0, 1.0]])))), [[0, 0, 1]])


def test_leaky_relu_values():
    out = LeakyReLU(0.1).forward(to_device(np.array([[-2.0, 0.0, 3.0]])))
    np.testing.assert_allclose(to_numpy(out), [[-0.2, 0, 3]])


def test_softmax_rows_sum_to_one_and_spec_example(rng):
    p = to_numpy(softmax(to_device(np.array([[2.0, 1.0, 0.1]]))))
    np.testing.assert_allclose(p, [[0.659, 0.242, 0.099]], atol=1e-3)
    np.testing.assert_allclose(p.round(2), [[0.66, 0.24, 0.10]])
    rows = to_numpy(Softmax().forward(to_device(rng.standard_normal((7, 10)) * 5)))
    np.testing.assert_allclose(rows.sum(axis=1), np.ones(7))
    assert (rows > 0).all()


def test_softmax_is_stable_for_huge_logits():
    p = to_numpy(softmax(to_device(np.array([[1000.0, 0.0], [-1000.0, -1000.0]]))))
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p, [[1, 0], [0.5, 0.5]])


def test_sigmoid_is_strictly_between_zero_and_one():
    out = to_numpy(Sigmoid().forward(to_device(np.linspace(-15, 15, 61))))
    assert ((out > 0) & (out < 1)).all()
    np.testing.assert_allclose(to_numpy(Sigmoid().forward(to_device(np.array([0.0, 2.0])))),
                               [0.5, 1 / (1 + np.exp(-2))])


def test_sigmoid_does_not_overflow():
    out = to_numpy(Sigmoid().forward(to_device(np.array([-1000.0, 1000.0]))))
    np.testing.assert_array_equal(out, [0.0, 1.0])


def test_tanh_values():
    np.testing.assert_allclose(to_numpy(Tanh().forward(to_device(np.array([0.0, 1.0])))), [0.0, np.tanh(1.0)])


@pytest.mark.parametrize("layer", [ReLU(), LeakyReLU(0.1), Sigmoid(), Tanh(), Softmax()],
                         ids=lambda layer: type(layer).__name__)
def test_gradients_match_finite_differences(layer, rng):
    errors = check_layer(layer, to_device(_away_from_zero(rng, (4, 6))), rng)
    assert errors["dx"] < TOLERANCE


@pytest.mark.parametrize("cls", [ReLU, LeakyReLU, Sigmoid, Tanh, Softmax])
def test_shapes_and_dout_untouched(cls, rng):
    layer = cls()
    x = to_device(rng.standard_normal((3, 5)).astype(np.float32))
    out = layer.forward(x, training=True)
    before = rng.standard_normal(out.shape).astype(np.float32)
    dout = to_device(before.copy())   # a copy: on NumPy, to_device is the array itself
    dx = layer.backward(dout)
    assert out.shape == dx.shape == x.shape and dx.dtype == np.float32
    np.testing.assert_array_equal(to_numpy(dout), before)


def test_eval_mode_keeps_no_cache():
    layer = ReLU()
    layer.forward(to_device(np.ones((2, 2))))
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(to_device(np.ones((2, 2))))
