import numpy as np

from matnet.nn import Dense, ReLU
from matnet.nn.gradcheck import TOLERANCE, check_layer, numerical_gradient, relative_error, standard_checks


def test_every_standard_check_passes():
    results = standard_checks()
    names = {r.name for r in results}
    assert {"Dense", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "Dropout", "MeanSquaredError"} <= names
    worst = {r.name: r.worst for r in results}
    assert all(r.passed for r in results), worst


def test_a_wrong_backward_is_caught(rng):
    class BrokenReLU(ReLU):
        def backward(self, dout):
            return super().backward(dout) * 1.01   # 1% off: must fail a 1e-6 check

    errors = check_layer(BrokenReLU(), rng.standard_normal((3, 4)) + 3, rng)
    assert errors["dx"] > TOLERANCE


def test_a_wrong_weight_gradient_is_caught(rng):
    class BrokenDense(Dense):
        def backward(self, dout):
            dx = super().backward(dout)
            self.grads["W"] *= 0.999
            return dx

    errors = check_layer(BrokenDense(3, 2, rng=rng), rng.standard_normal((2, 3)), rng)
    assert errors["W"] > TOLERANCE and errors["dx"] < TOLERANCE


def test_numerical_gradient_of_a_known_function():
    x = np.array([1.0, -2.0, 3.0])
    grad = numerical_gradient(lambda: float((x ** 3).sum()), x)
    np.testing.assert_allclose(grad, 3 * np.array([1.0, 4.0, 9.0]), rtol=1e-8)
    np.testing.assert_array_equal(x, [1.0, -2.0, 3.0])  # restored


def test_relative_error():
    assert relative_error(np.zeros(3), np.zeros(3)) == 0
    assert relative_error(np.array([1.0]), np.array([3.0])) == 0.5
