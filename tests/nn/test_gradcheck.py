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


def test_fourth_order_stencil_is_more_accurate():
    x = np.array([0.7, -1.3])

    def f():
        return float(np.sin(x).sum())

    exact = np.cos([0.7, -1.3])
    second = numerical_gradient(f, x, h=1e-3)
    fourth = numerical_gradient(f, x, h=1e-3, order=4)
    assert np.abs(fourth - exact).max() < 1e-12 < np.abs(second - exact).max() < 1e-6


def test_sampled_network_check_catches_a_wrong_backward(rng):
    from matnet.nn import Network, SoftmaxCrossEntropy
    from matnet.nn.gradcheck import KINKS, check_network

    class HalfWrongDense(Dense):
        def backward(self, dout):
            dx = super().backward(dout)
            self.grads["W"][:, ::2] *= 1.001        # every other input's weights slightly off
            return dx

    x, y = rng.standard_normal((8, 30)), rng.integers(0, 4, 8)
    good = check_network(Network([Dense(30, 16), ReLU(), Dense(16, 4)]), x, y, SoftmaxCrossEntropy(),
                         samples=10, trained=True)
    bad = check_network(Network([HalfWrongDense(30, 16, name="wrong"), ReLU(), Dense(16, 4, name="right")]), x, y,
                        SoftmaxCrossEntropy(), samples=10, trained=True)
    assert good.pop(KINKS) == bad.pop(KINKS) == 0           # smooth inputs: no kink within the steps
    assert max(good.values()) < TOLERANCE
    assert bad["wrong.W"] > TOLERANCE and bad["right.W"] < TOLERANCE and bad["wrong.b"] < TOLERANCE


def test_relative_error_judges_tiny_entries_at_the_array_scale():
    a = np.array([1.0, 1e-9])
    n = np.array([1.0, 2e-9])           # 100% off, but a billionth of the array's scale
    assert relative_error(a, n) < 1e-6
    assert relative_error(np.array([1.0, 0.5]), np.array([1.0, 0.51])) > 1e-3
