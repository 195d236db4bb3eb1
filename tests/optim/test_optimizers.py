"""Each optimizer's steps against steps computed by hand on theta = [w0, w1, b] (two weights, one bias)."""

import numpy as np
import pytest

from matnet.backend import to_device, to_numpy
from matnet.nn import Dense, Parameters
from matnet.optim import SGD, Adam, AdamW, Momentum, Nesterov, make_optimizer

G = [0.5, -1.0, 2.0]


def parameters(values=(1.0, 2.0, 3.0), dtype=np.float64):
    layer = Dense(2, 1, name="d")
    layer.astype(dtype)
    params = Parameters([layer])
    assert params.names == ["d.W", "d.b"] and params.n_decayed == 2
    params.values[:] = to_device(np.array(values, dtype=dtype))
    return params


def run(optimizer, grads_per_step):
    params = parameters()
    for g in grads_per_step:
        params.grads[:] = to_device(np.array(g, dtype=params.grads.dtype))
        optimizer.step(params)
    return to_numpy(params.values)


def test_sgd():
    # theta - 0.1 g
    np.testing.assert_allclose(run(SGD(lr=0.1), [G]), [0.95, 2.1, 2.8])


def test_sgd_weight_decay_touches_weights_only():
    # weights: g + 0.1 theta = [0.6, -0.8]; bias gradient unchanged
    np.testing.assert_allclose(run(SGD(lr=0.1, weight_decay=0.1), [G]), [0.94, 2.08, 2.8])


def test_momentum_weight_decay_enters_the_velocity_of_the_weights_only():
    # L2 decay is part of the gradient, so the velocity carries it: v = mu v + g + wd * w (w, not b), w -= lr v
    lr, mu, wd = 0.1, 0.9, 0.1
    theta, decays = np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0])
    v = np.zeros(3)
    for g in (np.array(G), np.array(G)):
        v = mu * v + g + wd * decays * theta
        theta = theta - lr * v
    # step 1 by hand: v = [0.6, -0.8, 2.0], theta = [0.94, 2.08, 2.8]
    np.testing.assert_allclose(run(Momentum(lr=lr, momentum=mu, weight_decay=wd), [G, G]), theta)
    np.testing.assert_allclose(run(Momentum(lr=lr, momentum=mu, weight_decay=wd), [G]), [0.94, 2.08, 2.8])


def test_momentum_two_steps():
    # v1 = g, theta1 = theta - 0.1 g;  v2 = 0.9 g + g = 1.9 g, theta2 = theta1 - 0.19 g
    np.testing.assert_allclose(run(Momentum(lr=0.1, momentum=0.9), [G, G]), [0.855, 2.29, 2.42])


def test_nesterov_two_steps():
    # step 1: v = g, update g + 0.9 v = 1.9 g;  step 2: v = 1.9 g, update g + 0.9 * 1.9 g = 2.71 g
    np.testing.assert_allclose(run(Nesterov(lr=0.1, momentum=0.9), [G, G]),
                               [1 - 0.19 * 0.5 - 0.271 * 0.5, 2 + 0.19 + 0.271, 3 - 0.38 - 0.542])


def test_adam_first_step_is_lr_times_sign():
    # m_hat = g, s_hat = g^2 after bias correction: the first step is lr * g / |g|
    np.testing.assert_allclose(run(Adam(lr=0.1), [G]), [0.9, 2.1, 2.9], rtol=1e-7)


def test_adam_against_the_paper_step_by_step():
    g1, g2 = np.array(G), np.array([-0.3, 0.2, 1.0])
    lr, b1, b2, eps = 0.05, 0.9, 0.999, 1e-8
    theta, m, s = np.array([1.0, 2.0, 3.0]), np.zeros(3), np.zeros(3)
    for t, g in enumerate((g1, g2), start=1):
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * g * g
        theta = theta - lr * (m / (1 - b1 ** t)) / (np.sqrt(s / (1 - b2 ** t)) + eps)
    np.testing.assert_allclose(run(Adam(lr=lr), [g1, g2]), theta, rtol=1e-10)


def test_adamw_decays_weights_directly():
    # weights shrink by lr * wd = 1% first, then Adam's lr * sign(g) step; the bias is not decayed
    np.testing.assert_allclose(run(AdamW(lr=0.1, weight_decay=0.1), [G]), [0.89, 2.08, 2.9], rtol=1e-7)


def adam_by_hand(grads, lr, wd, decoupled, b1=0.9, b2=0.999, eps=1e-8):
    """Adam on theta = [w0, w1, b] with weight decay on w0, w1: L2 (wd * w added to the gradient, so it passes
    through m and s) or decoupled (AdamW: w shrinks by lr * wd before the Adam step, which never sees it)."""
    theta, m, s = np.array([1.0, 2.0, 3.0]), np.zeros(3), np.zeros(3)
    decays = np.array([1.0, 1.0, 0.0])
    for t, g in enumerate(grads, start=1):
        g = np.array(g, dtype=np.float64)
        if decoupled:
            theta = theta - lr * wd * decays * theta
        else:
            g = g + wd * decays * theta
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * g * g
        theta = theta - lr * (m / (1 - b1 ** t)) / (np.sqrt(s / (1 - b2 ** t)) + eps)
    return theta


def test_adam_l2_and_adamw_each_against_their_hand_steps():
    grads = [G, [-0.3, 0.2, 1.0], [0.1, 0.4, -0.5]]
    l2, decoupled = adam_by_hand(grads, 0.1, 0.1, False), adam_by_hand(grads, 0.1, 0.1, True)
    np.testing.assert_allclose(run(Adam(lr=0.1, weight_decay=0.1), grads), l2, rtol=1e-10)
    np.testing.assert_allclose(run(AdamW(lr=0.1, weight_decay=0.1), grads), decoupled, rtol=1e-10)
    assert np.abs(l2 - decoupled)[:2].min() > 1e-3            # the two forms of decay really differ here
    np.testing.assert_allclose(l2[2], decoupled[2], rtol=1e-12)   # and neither touches the bias


def test_float32_state_stays_float32():
    params = parameters(dtype=np.float32)
    params.grads[:] = to_device(np.array(G, dtype=np.float32))
    opt = Adam()
    opt.step(params)
    assert params.values.dtype == np.float32 and opt.state["m"].dtype == np.float32


BUILT_BY_HAND = {"sgd": lambda: SGD(lr=0.05, weight_decay=0.2),
                 "momentum": lambda: Momentum(lr=0.05, momentum=0.5, weight_decay=0.2),
                 "nesterov": lambda: Nesterov(lr=0.05, momentum=0.5, weight_decay=0.2),
                 "adam": lambda: Adam(lr=0.05, weight_decay=0.2),
                 "adamw": lambda: AdamW(lr=0.05, weight_decay=0.2)}


@pytest.mark.parametrize("name", BUILT_BY_HAND)
def test_make_optimizer_builds_the_named_one_with_every_hyperparameter(name):
    # momentum 0.5 and weight decay 0.2 are not the defaults, so one dropped on the way changes the steps
    made, expected = make_optimizer(name, 0.05, weight_decay=0.2, momentum=0.5), BUILT_BY_HAND[name]()
    assert type(made) is type(expected) and made.config() == expected.config()
    grads = [G, [-0.3, 0.2, 1.0], [0.1, 0.4, -0.5]]
    np.testing.assert_array_equal(run(made, grads), run(expected, grads))


def test_bad_hyperparameters():
    with pytest.raises(ValueError, match="learning rate"):
        SGD(lr=0)
    with pytest.raises(ValueError, match="momentum"):
        Momentum(momentum=1.5)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("rmsprop", 0.1)
