"""Each layer and loss against PyTorch's, forward and backward, in float32 to 1e-5.

Dropout's masks come from a different generator than PyTorch's, so it is not here: tests/nn/test_dropout.py
checks that PyTorch's dropout and ours obey the same definition (drop rate, scaling) instead.
"""

import numpy as np
import pytest

from support import torch_twin

from matnet.nn import (Dense, LeakyReLU, MeanSquaredError, Network, ReLU, Sigmoid, Softmax,
                       SoftmaxCrossEntropy, Tanh)

TOL = dict(rtol=1e-5, atol=1e-5)


def compare(layer, torch_fn, x, dout, torch):
    out = layer.forward(x, training=True)
    dx = layer.backward(dout)
    tx = torch.tensor(x, requires_grad=True)
    tout = torch_fn(tx)
    tout.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, tout.detach().numpy(), **TOL)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **TOL)


@pytest.fixture
def data(rng):
    x = rng.standard_normal((16, 12)).astype(np.float32)
    return x, rng.standard_normal((16, 12)).astype(np.float32)


def test_dense(torch, rng):
    layer = Dense(12, 7, rng=rng)
    x = rng.standard_normal((16, 12)).astype(np.float32)
    dout = rng.standard_normal((16, 7)).astype(np.float32)
    linear = torch_twin([layer], torch)[0]
    compare(layer, linear, x, dout, torch)
    np.testing.assert_allclose(layer.grads["W"], linear.weight.grad.numpy(), **TOL)
    np.testing.assert_allclose(layer.grads["b"], linear.bias.grad.numpy(), **TOL)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh", "softmax"])
def test_activations(name, torch, data):
    F = torch.nn.functional
    layer, fn = {
        "relu": (ReLU(), F.relu),
        "leaky_relu": (LeakyReLU(0.1), lambda t: F.leaky_relu(t, 0.1)),
        "sigmoid": (Sigmoid(), torch.sigmoid),
        "tanh": (Tanh(), torch.tanh),
        "softmax": (Softmax(), lambda t: torch.softmax(t, dim=1)),
    }[name]
    compare(layer, fn, *data, torch)


@pytest.mark.parametrize("case", ["cross_entropy_labels", "cross_entropy_probabilities", "mse"])
def test_losses(case, torch, rng):
    F = torch.nn.functional
    z = (rng.standard_normal((32, 10)) * 3).astype(np.float32)
    loss, torch_loss, y = {
        "cross_entropy_labels": (SoftmaxCrossEntropy(), F.cross_entropy, rng.integers(0, 10, 32)),
        "cross_entropy_probabilities": (SoftmaxCrossEntropy(), F.cross_entropy,
                                        rng.dirichlet(np.ones(10), 32).astype(np.float32)),
        "mse": (MeanSquaredError(), F.mse_loss, rng.standard_normal((32, 10)).astype(np.float32)),
    }[case]
    value = loss.forward(z, y)
    tz = torch.tensor(z, requires_grad=True)
    tloss = torch_loss(tz, torch.tensor(y))
    tloss.backward()
    assert value == pytest.approx(tloss.item(), rel=1e-5)
    np.testing.assert_allclose(loss.backward(), tz.grad.numpy(), **TOL)


def test_whole_network_gradients(torch, rng):
    net = Network([Dense(12, 8), ReLU(), Dense(8, 6), Tanh(), Dense(6, 4)], seed=1)
    x, y = rng.standard_normal((16, 12)).astype(np.float32), rng.integers(0, 4, 16)
    loss = SoftmaxCrossEntropy()
    loss.forward(net.forward(x, training=True), y)
    net.backward(loss.backward())
    tnet = torch_twin(net.layers, torch)
    ours = [layer for layer in net.layers if isinstance(layer, Dense)]
    theirs = [m for m in tnet if isinstance(m, torch.nn.Linear)]
    torch.nn.functional.cross_entropy(tnet(torch.tensor(x)), torch.tensor(y)).backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grads["W"], b.weight.grad.numpy(), **TOL)
        np.testing.assert_allclose(a.grads["b"], b.bias.grad.numpy(), **TOL)
