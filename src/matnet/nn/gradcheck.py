"""Gradient checking: compare each backward pass with central finite differences, in float64.

For a layer, take a random ``dout`` and the scalar ``f(x) = sum(forward(x) * dout)``; then ``df/dx`` is exactly
what ``backward(dout)`` must return, and ``df/dparam`` what it must write into ``grads``. Numerically,

    df/dx_i  ~  (f(x + h e_i) - f(x - h e_i)) / (2 h)        (error O(h^2))

The relative error ``|a - n| / max(|a| + |n|, tiny)``, worst over all elements, should be < 1e-6 in float64.
Inputs are kept away from kinks (ReLU at 0), where no derivative exists to compare with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matnet.backend import to_numpy, xp
from matnet.nn.activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from matnet.nn.dense import Dense
from matnet.nn.dropout import Dropout
from matnet.nn.losses import MeanSquaredError, SoftmaxCrossEntropy
from matnet.nn.network import Network

__all__ = ["TOLERANCE", "numerical_gradient", "relative_error", "check_layer", "check_loss", "check_network",
           "CheckResult", "standard_checks"]

TOLERANCE = 1e-6
STEP = 1e-5


def numerical_gradient(f, x, h: float = STEP):
    """Central differences of the scalar function ``f()`` with respect to the array ``x``, perturbed in place."""
    grad = xp.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)  # views: writing flat[i] moves x[i]
    for i in range(flat.size):
        old = float(flat[i])
        flat[i] = old + h
        up = f()
        flat[i] = old - h
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return grad


def relative_error(analytic, numeric) -> float:
    """Worst elementwise ``|a - n| / max(|a| + |n|, 1e-12)`` (0 where both are exactly 0)."""
    a, n = to_numpy(analytic).astype(np.float64), to_numpy(numeric).astype(np.float64)
    if a.shape != n.shape:
        raise ValueError(f"gradient shape {a.shape} differs from the numerical one {n.shape}")
    return float((np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), 1e-12)).max(initial=0.0))


def _frozen_randomness(layer):
    """Restore a layer's generator before every forward, so dropout draws the same mask each time."""
    rng = getattr(layer, "rng", None)
    state = rng.bit_generator.state if rng is not None else None

    def reset():
        if state is not None:
            rng.bit_generator.state = state
    return reset


def check_layer(layer, x, rng: np.random.Generator) -> dict[str, float]:
    """Worst relative error of ``dx`` and of every gradient in ``layer.grads`` (layer and x made float64)."""
    layer.astype(np.float64)
    layer.input_grad = True
    x = xp.asarray(x, dtype=xp.float64)
    reset = _frozen_randomness(layer)
    reset()
    out = layer.forward(x, training=True)
    dout = xp.asarray(rng.standard_normal(out.shape))
    dout_before = dout.copy()
    dx = layer.backward(dout)
    if not bool((dout == dout_before).all()):
        raise AssertionError(f"{type(layer).__name__}.backward wrote into dout")
    analytic = {"dx": dx, **{key: g.copy() for key, g in layer.grads.items()}}

    def f():
        reset()
        return float((layer.forward(x, training=True) * dout).sum())

    errors = {"dx": relative_error(analytic["dx"], numerical_gradient(f, x))}
    for key, param in layer.params.items():
        errors[key] = relative_error(analytic[key], numerical_gradient(f, param))
    return errors


def check_loss(loss, z, y) -> float:
    """Worst relative error of ``loss.backward()`` against the numerical gradient of ``loss.forward(z, y)``."""
    z = xp.asarray(z, dtype=xp.float64)
    loss.forward(z, y)
    analytic = loss.backward()
    return relative_error(analytic, numerical_gradient(lambda: loss.forward(z, y), z))


def check_network(net: Network, x, y, loss) -> dict[str, float]:
    """Worst relative error of every parameter's gradient and of dL/dx, through a whole network."""
    net.astype(np.float64)
    x = xp.asarray(x, dtype=xp.float64)
    first = net.layers[0]
    first.input_grad = True
    resets = [_frozen_randomness(layer) for layer in net.layers]

    def f():
        for reset in resets:
            reset()
        return loss.forward(net.forward(x, training=True), y)

    try:
        f()
        dx = net.backward(loss.backward())
        analytic = net.parameters.grads.copy()
        numeric = numerical_gradient(f, net.parameters.values)
        errors = {name: relative_error(analytic[span], numeric[span])
                  for name, span in zip(net.parameters.names, net.parameters.slices)}
        errors["dx"] = relative_error(dx, numerical_gradient(f, x))
    finally:
        first.input_grad = False
    return errors


@dataclass
class CheckResult:
    name: str
    errors: dict[str, float]

    @property
    def worst(self) -> float:
        return max(self.errors.values())

    @property
    def passed(self) -> bool:
        return self.worst < TOLERANCE


def _away_from_zero(rng, shape, margin=0.1):
    """Inputs with |x| >= margin, so ReLU-like kinks at 0 are never crossed by a step of h."""
    x = rng.standard_normal(shape)
    return np.where(x >= 0, x + margin, x - margin)


def standard_checks(seed: int = 0) -> list[CheckResult]:
    """Every layer, every loss and a whole network, on small random float64 inputs."""
    rng = np.random.default_rng(seed)
    results = []
    layers = [
        ("Dense", Dense(5, 4, rng=rng)),
        ("ReLU", ReLU()),
        ("LeakyReLU", LeakyReLU(0.1)),
        ("Sigmoid", Sigmoid()),
        ("Tanh", Tanh()),
        ("Softmax", Softmax()),
        ("Dropout", Dropout(0.3, rng=np.random.default_rng(seed))),
    ]
    for name, layer in layers:
        x = _away_from_zero(rng, (3, 5))
        results.append(CheckResult(name, check_layer(layer, x, rng)))
    labels = rng.integers(0, 4, size=6)
    targets = rng.dirichlet(np.ones(4), size=6)
    results.append(CheckResult("SoftmaxCrossEntropy (labels)",
                               {"dz": check_loss(SoftmaxCrossEntropy(), rng.standard_normal((6, 4)), labels)}))
    results.append(CheckResult("SoftmaxCrossEntropy (probabilities)",
                               {"dz": check_loss(SoftmaxCrossEntropy(), rng.standard_normal((6, 4)), targets)}))
    results.append(CheckResult("MeanSquaredError",
                               {"dpred": check_loss(MeanSquaredError(), rng.standard_normal((6, 4)), targets)}))
    net = Network([Dense(6, 5), Tanh(), Dense(5, 4), LeakyReLU(0.1), Dropout(0.2), Dense(4, 3)], seed=seed)
    results.append(CheckResult("Network 6-5-4-3", check_network(net, rng.standard_normal((4, 6)),
                                                                rng.integers(0, 3, size=4), SoftmaxCrossEntropy())))
    return results
