import math

import numpy as np
import pytest

from matnet.backend import to_device, to_host, to_numpy
from matnet.nn import MeanSquaredError, SoftmaxCrossEntropy, one_hot
from matnet.nn.losses import OUTPUTS, check_output, make_loss
from matnet.nn.gradcheck import TOLERANCE, check_loss


def logits_for(probabilities):
    return to_device(np.log(np.array(probabilities, dtype=np.float64)))


def test_cross_entropy_of_spec_examples():
    loss = SoftmaxCrossEntropy()
    # 0.90 on the true class: -log(0.9) = 0.105
    value = loss.forward(logits_for([[0.9, 0.05, 0.05]]), to_device(np.array([0])))
    assert to_host(value) == pytest.approx(0.105, abs=5e-4)
    # uniform over 10 classes: log(10) = 2.303
    value = loss.forward(to_device(np.zeros((3, 10))), to_device(np.array([1, 5, 9])))
    assert to_host(value) == pytest.approx(2.303, abs=5e-4)


def test_labels_and_one_hot_give_the_same_loss_and_gradient(rng):
    z, y = to_device(rng.standard_normal((5, 4))), to_device(rng.integers(0, 4, 5))
    a, b = SoftmaxCrossEntropy(), SoftmaxCrossEntropy()
    assert to_host(a.forward(z, y)) == pytest.approx(to_host(b.forward(z, one_hot(y, 4, dtype=np.float64))))
    np.testing.assert_allclose(to_numpy(a.backward()), to_numpy(b.backward()))


def test_gradient_is_p_minus_y_over_n():
    z = np.array([[1.0, 2.0, 3.0]])
    loss = SoftmaxCrossEntropy()
    loss.forward(to_device(z), to_device(np.array([2])))
    p = np.exp(z) / np.exp(z).sum()
    np.testing.assert_allclose(to_numpy(loss.backward()), p - [[0, 0, 1]])


def test_cross_entropy_is_stable_for_huge_logits():
    loss = SoftmaxCrossEntropy()
    value = loss.forward(to_device(np.array([[1000.0, -1000.0]])), to_device(np.array([1])))
    assert to_host(value) == pytest.approx(2000.0)
    assert np.isfinite(to_numpy(loss.backward())).all()


def test_backward_twice_gives_the_same_gradient(rng):
    loss = SoftmaxCrossEntropy()
    loss.forward(to_device(rng.standard_normal((3, 4))), to_device(np.array([0, 1, 2])))
    np.testing.assert_array_equal(to_numpy(loss.backward()), to_numpy(loss.backward()))


def test_mse_by_hand():
    loss = MeanSquaredError()
    value = loss.forward(to_device(np.array([[1.0, 2.0], [0.0, 0.0]])), to_device(np.array([[0.0, 2.0], [1.0, 1.0]])))
    assert to_host(value) == pytest.approx((1 + 0 + 1 + 1) / 4)
    np.testing.assert_allclose(to_numpy(loss.backward()), 2 * np.array([[1, 0], [-1, -1]]) / 4)


def test_mse_one_hot_encodes_labels():
    loss = MeanSquaredError()
    assert to_host(loss.forward(to_device(np.array([[0.0, 1.0]])), to_device(np.array([1])))) == 0.0


@pytest.mark.parametrize("loss", [SoftmaxCrossEntropy(), MeanSquaredError(), SoftmaxCrossEntropy(0.1)],
                         ids=["SoftmaxCrossEntropy", "MeanSquaredError", "SoftmaxCrossEntropy-smoothed"])
@pytest.mark.parametrize("targets", ["labels", "rows"])
def test_gradients_match_finite_differences(loss, targets, rng):
    y = rng.integers(0, 5, 6) if targets == "labels" else rng.dirichlet(np.ones(5), 6)
    assert check_loss(loss, to_device(rng.standard_normal((6, 5))), to_device(y)) < TOLERANCE


def test_label_smoothing_by_hand():
    """z = log([0.7, 0.2, 0.1]), label 0, e = 0.3: q = 0.7 [1, 0, 0] + 0.1 = [0.8, 0.1, 0.1];
    L = -(0.8 log 0.7 + 0.1 log 0.2 + 0.1 log 0.1) = 0.5762; dz = p - q = [-0.1, 0.1, 0.0]."""
    for y in (np.array([0]), np.array([[1.0, 0.0, 0.0]])):       # a label, and the same as a one-hot row
        loss = SoftmaxCrossEntropy(label_smoothing=0.3)
        value = loss.forward(logits_for([[0.7, 0.2, 0.1]]), to_device(y))
        expected = -(0.8 * math.log(0.7) + 0.1 * math.log(0.2) + 0.1 * math.log(0.1))
        assert to_host(value) == pytest.approx(expected, rel=1e-12)
        np.testing.assert_allclose(to_numpy(loss.backward()), [[-0.1, 0.1, 0.0]], atol=1e-12)
    assert to_host(SoftmaxCrossEntropy(0.0).forward(logits_for([[0.7, 0.3]]), to_device(np.array([0])))) == \
        pytest.approx(-math.log(0.7))


@pytest.mark.parametrize("bad", [-0.1, 1.0, float("nan")])
def test_label_smoothing_must_be_below_one(bad):
    with pytest.raises(ValueError, match="label smoothing must be in"):
        SoftmaxCrossEntropy(bad)
    with pytest.raises(ValueError, match="label smoothing is for the cross-entropy loss, not mse"):
        make_loss("mse", 0.1)


def test_backward_before_forward():
    for loss in (SoftmaxCrossEntropy(), MeanSquaredError()):
        with pytest.raises(RuntimeError, match="before forward"):
            loss.backward()


def test_one_hot():
    np.testing.assert_array_equal(to_numpy(one_hot(to_device(np.array([2, 0])), 3)), [[0, 0, 1], [1, 0, 0]])
    assert math.isclose(to_host(one_hot(to_device(np.array([1])), 4).sum()), 1.0)


def test_mse_is_the_mean_over_every_entry_so_lr_is_eta_times_classes_over_two(rng):
    """Nielsen's step for a batch of m is eta * (a - y) / m (his cost_derivative, summed over the batch and
    divided by m); MSE's gradient is 2 (a - y) / (m C), so with C = 10 classes lr 15 takes his step for eta 3.0."""
    a, y = np.array([[0.2, 0.7, 0.1], [0.9, 0.4, 0.3]]), np.array([1, 0])     # m = 2, C = 3
    loss = MeanSquaredError()
    assert to_host(loss.forward(to_device(a), to_device(y))) == pytest.approx((0.04 + 0.09 + 0.01 + 0.01 + 0.16 + 0.09)
                                                                               / 6)
    np.testing.assert_allclose(to_numpy(loss.backward()), 2 * (a - [[0, 1, 0], [1, 0, 0]]) / 6)
    a, y = rng.uniform(size=(10, 10)), rng.integers(0, 10, 10)              # the book's batch of 10, 10 classes
    loss.forward(to_device(a), to_device(y))
    np.testing.assert_allclose(15.0 * to_numpy(loss.backward()), 3.0 * (a - np.eye(10)[y]) / 10)


def test_loss_names_and_the_outputs_they_take():
    assert isinstance(make_loss("mse"), MeanSquaredError)
    assert isinstance(make_loss("cross-entropy"), SoftmaxCrossEntropy)
    with pytest.raises(ValueError, match="unknown loss 'l1'; choose one of cross-entropy, mse"):
        make_loss("l1")
    for output in OUTPUTS:
        check_output(output, "mse")
    check_output("softmax", "cross-entropy")
    with pytest.raises(ValueError, match="output sigmoid with loss cross-entropy: cross-entropy takes logits"):
        check_output("sigmoid", "cross-entropy")
    with pytest.raises(ValueError, match="unknown output 'tanh'"):
        check_output("tanh", "mse")
