import json

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


# --- a check that could not judge must fail, and say why ------------------------------------------------------
import math  # noqa: E402

import pytest  # noqa: E402

from matnet.nn.gradcheck import NON_FINITE, NOTHING_COMPARED, CheckResult, check_network  # noqa: E402
from matnet.nn.layer import Layer  # noqa: E402


def test_relative_error_of_nothing_or_of_non_finite_values_never_passes():
    assert math.isnan(relative_error(np.zeros(0), np.zeros(0)))
    assert relative_error(np.array([1.0, np.nan]), np.array([1.0, 1.0])) == math.inf
    assert relative_error(np.array([1.0]), np.array([np.inf])) == math.inf


@pytest.mark.parametrize("errors,problem", [
    ({"W": math.nan, "b": 1e-9}, f"W: {NOTHING_COMPARED}"),
    ({"W": 1e-9, "dx": math.inf}, f"dx: {NON_FINITE}"),
    ({}, "no arrays checked"),
])
def test_a_result_that_could_not_judge_fails_and_says_which(errors, problem):
    result = CheckResult("layer", errors)
    assert not result.passed and result.problems == [problem]
    assert not result.worst < TOLERANCE


def test_a_result_with_every_error_small_passes():
    result = CheckResult("layer", {"W": 1e-9, "dx": 0.0})
    assert result.passed and result.problems == [] and result.worst == 1e-9


class Kinked(Layer):
    """``x`` where x > 0, ``-sqrt(-x)`` elsewhere: a kink at 0 no step is small enough to pass over (the slope on
    the left grows without bound as it nears 0, so estimates at h and h/2 disagree at every h; the backward pass
    gives it the slope 0 there, as ReLU's does)."""

    def forward(self, x, training=False):
        self._cache = x
        return np.where(x > 0, x, -np.sqrt(np.maximum(-x, 0.0)))

    def backward(self, dout):
        x = self._saved()
        with np.errstate(divide="ignore"):
            left = np.where(x < 0, 0.5 / np.sqrt(np.maximum(-x, 1e-300)), 0.0)
        return dout * np.where(x > 0, 1.0, left)


def kinked_network():
    """Dense(4, 3) with zero weights into Kinked: every entry of the first layer sits at the kink, whatever x."""
    from matnet.nn import Network

    net = Network([Dense(4, 3), Kinked(), Dense(3, 2)], seed=0)
    net.layers[0].params["W"][...] = 0
    net.layers[0].params["b"][...] = 0
    return net


def test_every_sampled_entry_at_a_kink_fails_as_nothing_compared(rng):
    from matnet.nn import SoftmaxCrossEntropy
    from matnet.nn.gradcheck import KINKS

    errors = check_network(kinked_network(), rng.standard_normal((5, 4)), rng.integers(0, 2, 5),
                           SoftmaxCrossEntropy(), samples=6, trained=True)
    assert errors.pop(KINKS) == 6 + 3
    assert math.isnan(errors["dense_1.W"]) and math.isnan(errors["dense_1.b"])
    assert errors["dense_2.W"] < TOLERANCE                     # the rest is compared, and right
    results = [CheckResult(name, {name: e}) for name, e in errors.items()]
    assert [r.name for r in results if not r.passed] == ["dense_1.W", "dense_1.b"]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")   # inf - inf in the loss: the point of the test
def test_a_loss_that_is_not_finite_fails_as_non_finite(rng):
    from matnet.nn import Network, SoftmaxCrossEntropy

    x = rng.standard_normal((3, 4))
    x[0, 0] = np.inf
    for trained in (False, True):
        errors = check_network(Network([Dense(4, 2)]), x, rng.integers(0, 2, 3), SoftmaxCrossEntropy(),
                               trained=trained)
        errors.pop("entries at a kink", None)
        assert errors["dense_1.W"] == math.inf, trained                # not set aside as a kink


def test_the_command_fails_and_names_what_it_could_not_compare(monkeypatch, capsys):
    from types import SimpleNamespace

    import matnet.cli.gradcheck as command
    from matnet.cli.main import main
    from matnet.model import Sequential

    rng = np.random.default_rng(0)
    net = Sequential([Dense(784, 3), Kinked(), Dense(3, 2)], classes=("a", "b"))
    net.layers[0].params["W"][...] = 0
    net.layers[0].params["b"][...] = 0
    data = SimpleNamespace(test_images=rng.integers(0, 255, (8, 28, 28)).astype(np.uint8),
                           test_labels=rng.integers(0, 2, 8).astype(np.uint8))
    monkeypatch.setattr(command, "open_model", lambda path: net)
    monkeypatch.setattr(command, "load_dataset", lambda name, progress: data)
    assert main(["gradcheck", "some-model", "--samples", "5"]) == 1
    out, err = capsys.readouterr()
    assert "dense_1.W  -                FAIL: dense_1.W: nothing compared" in out
    assert err.splitlines()[-1] == (f"matnet: error: gradient check failed for dense_1.W ({NOTHING_COMPARED}), "
                                    f"dense_1.b ({NOTHING_COMPARED})")
    assert main(["gradcheck", "some-model", "--samples", "5", "--json"]) == 1
    table, _ = json.JSONDecoder().raw_decode(capsys.readouterr().out)     # then the command's {"error": ...}
    rows = {r["name"]: r for r in table}
    assert rows["dense_1.W"]["worst"] is None and rows["dense_1.W"]["passed"] is False
    assert rows["dense_1.W"]["problems"] == [f"dense_1.W: {NOTHING_COMPARED}"] and rows["dense_2.W"]["passed"]


def test_a_network_check_reports_each_array_as_it_ends():
    """`matnet gradcheck RUN` shows a bar from these calls (it was silent for 18 s on the demo network)."""
    from matnet.nn import Network, SoftmaxCrossEntropy, Tanh

    net = Network([Dense(3, 4), Tanh(), Dense(4, 2)], seed=0)
    seen = []
    rng = np.random.default_rng(0)
    check_network(net, rng.standard_normal((2, 3)), np.array([0, 1]), SoftmaxCrossEntropy(), progress=seen.append)
    assert seen == list(net.parameters.names) + ["dx"]
