"""Gradient checking: compare each backward pass with central finite differences, in float64.

For a layer, take a random ``dout`` and the scalar ``f(x) = sum(forward(x) * dout)``; then ``df/dx`` is exactly
what ``backward(dout)`` must return, and ``df/dparam`` what it must write into ``grads``. Numerically,

    df/dx_i  ~  (f(x + h e_i) - f(x - h e_i)) / (2 h)                                  (error O(h^2))
    or, fourth order, (f(x - 2h e_i) - 8 f(x - h e_i) + 8 f(x + h e_i) - f(x + 2h e_i)) / (12 h)   (O(h^4))

A trained network is checked with the fourth-order stencil and a larger h: its confident outputs make gradients
small, and the rounding error of ``f`` divided by a tiny h would swamp them. In a convolutional network one weight
feeds every position of every image, so some ReLU input or max-pooling tie almost surely lies within any step:
a kink, where no derivative exists. Each entry is therefore estimated twice, at h and h/2; away from kinks the two
agree to rounding. Where they disagree the entry is tried again with a step 10 and then 100 times smaller (a kink
near it may lie outside the smaller step); entries whose estimates still disagree are set aside (counted in
``KINKS``) rather than compared.
A check that could compare nothing (every entry set aside, or an array without entries) or met a non-finite value
fails, and ``CheckResult.problems`` says which: an error of NaN or infinity never passes.

The relative error ``|a - n| / max(|a| + |n|, s)``, worst over all elements, should be < 1e-6 in float64. The floor
``s`` is 1e-3 of the largest ``|a| + |n|`` in the whole check (every array of the layer or network): an entry a
thousand times smaller than that (a weight of a unit that barely fired; a bias before BatchNorm, whose gradient is
exactly zero) is judged against that scale, since finite differences cannot resolve it to 1e-6 of itself; a wrong
backward pass is wrong at the gradients' scale, and still fails.
Inputs are kept away from kinks (ReLU at 0), where no derivative exists to compare with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from matnet.backend import random_state, set_random_state, to_host, to_numpy, xp
from matnet.nn.activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from matnet.nn.batchnorm import BatchNorm
from matnet.nn.conv import Conv2D
from matnet.nn.dense import Dense
from matnet.nn.dropout import Dropout
from matnet.nn.pool import AvgPool2D, GlobalAvgPool, MaxPool2D
from matnet.nn.reshape import Flatten
from matnet.nn.residual import Residual
from matnet.nn.losses import MeanSquaredError, SoftmaxCrossEntropy
from matnet.nn.network import Network

__all__ = ["TOLERANCE", "numerical_gradient", "relative_error", "check_layer", "check_loss", "check_network",
           "CheckResult", "standard_checks", "NOTHING_COMPARED", "NON_FINITE"]

TOLERANCE = 1e-6
STEP = 1e-5


STENCILS = {2: ((-1, -0.5), (1, 0.5)),                               # (offset in h, weight / h)
            4: ((-2, 1 / 12), (-1, -8 / 12), (1, 8 / 12), (2, -1 / 12))}


def numerical_gradient(f, x, h: float = STEP, indices=None, order: int = 2):
    """Central differences of the scalar function ``f()`` with respect to the array ``x``, perturbed in place:
    the whole gradient (shaped as x), or only its entries at the flat ``indices``."""
    flat = x.reshape(-1)  # a view: writing flat[i] moves x[i]
    chosen = range(flat.size) if indices is None else indices
    grad = np.zeros(len(chosen))
    for k, i in enumerate(chosen):
        old = to_host(flat[i])
        total = 0.0
        for offset, weight in STENCILS[order]:
            flat[i] = old + offset * h
            total += weight * to_host(f())
        flat[i] = old
        grad[k] = total / h
    return xp.asarray(grad.reshape(x.shape) if indices is None else grad)


def relative_error(analytic, numeric, scale: float | None = None) -> float:
    """Worst elementwise ``|a - n| / max(|a| + |n|, 1e-3 * scale, 1e-12)`` (0 where both are 0); ``scale`` is the
    largest ``|a| + |n|`` of the whole check, by default of these arrays. Never a pass by default: NaN when there
    is nothing to compare (no entries), infinity when a value is NaN or infinite; both fail ``< TOLERANCE``."""
    a, n = to_numpy(analytic).astype(np.float64), to_numpy(numeric).astype(np.float64)
    if a.shape != n.shape:
        raise ValueError(f"gradient shape {a.shape} differs from the numerical one {n.shape}")
    if a.size == 0:
        return math.nan
    if not (np.isfinite(a).all() and np.isfinite(n).all()):
        return math.inf
    size = np.abs(a) + np.abs(n)
    floor = max(1e-3 * (float(size.max(initial=0.0)) if scale is None else scale), 1e-12)
    return float((np.abs(a - n) / np.maximum(size, floor)).max(initial=0.0))


def _errors(pairs: dict) -> dict[str, float]:
    """``{name: (analytic, numeric)}`` -> ``{name: worst relative error}``, on the scale of all of them (their
    finite values: one array's NaN must not blur the others')."""
    def largest(a, n):
        size = np.abs(to_numpy(a)) + np.abs(to_numpy(n))
        return float(np.max(size, where=np.isfinite(size), initial=0.0))
    scale = max((largest(a, n) for a, n in pairs.values()), default=0.0)
    return {name: relative_error(a, n, scale) for name, (a, n) in pairs.items()}


def _frozen_randomness(layer):
    """Restore a layer's generator before every forward, so dropout draws the same mask each time."""
    rng = getattr(layer, "rng", None)
    state = random_state(rng) if rng is not None else None

    def reset():
        if state is not None:
            set_random_state(rng, state)
    return reset


def _parameters(layer, prefix=""):
    """(label, param, grad) for a layer's parameters and those of the layers inside it."""
    found = [(prefix + key, layer.params[key], layer.grads[key]) for key in layer.params]
    for i, sub in enumerate(layer.sublayers()):
        found += _parameters(sub, f"{prefix}{sub.name or f'{type(sub).__name__.lower()}{i}'}.")
    return found


def check_layer(layer, x, rng: np.random.Generator) -> dict[str, float]:
    """Worst relative error of ``dx`` and of every gradient of the layer and the layers inside it (all float64).
    The layer is built for x's sample shape and cast to float64, so it must stand alone (check a network's with
    ``check_network``)."""
    layer.build(tuple(x.shape[1:]))  # blocks make what depends on the input's shape (a projection), then cast
    layer.astype(np.float64)
    layer.input_grad = True
    x = xp.asarray(x, dtype=xp.float64)
    reset = _frozen_randomness(layer)
    reset()
    out = layer.forward(x, training=True)
    dout = xp.asarray(rng.standard_normal(out.shape))
    dout_before = dout.copy()
    dx = layer.backward(dout)
    if not to_host((dout == dout_before).all()):
        raise AssertionError(f"{type(layer).__name__}.backward wrote into dout")
    params = _parameters(layer)
    analytic = {"dx": dx, **{label: grad.copy() for label, _, grad in params}}

    def f():
        reset()
        return to_host((layer.forward(x, training=True) * dout).sum())

    pairs = {"dx": (analytic["dx"], numerical_gradient(f, x))}
    for label, param, _ in params:
        pairs[label] = (analytic[label], numerical_gradient(f, param))
    return _errors(pairs)


def check_loss(loss, z, y) -> float:
    """Worst relative error of ``loss.backward()`` against the numerical gradient of ``loss.forward(z, y)``."""
    z, y = xp.asarray(z, dtype=xp.float64), xp.asarray(y)
    loss.forward(z, y)
    analytic = loss.backward()
    return relative_error(analytic, numerical_gradient(lambda: loss.forward(z, y), z))


KINKS = "entries at a kink"


def _kink_free(f, x, idx, stencil, tries: int = 3):
    """Numerical gradient at ``idx`` with h and h/2; NaN where the two disagree (a kink within the step), and
    infinity where either is not finite (a loss that overflowed is no kink to set aside: the check must fail).
    An entry whose two estimates disagree is tried again with a step ten times smaller (``tries`` steps in all):
    a kink that lay within 2h of it may lie outside 2h/10 (a first layer's weight, which every position of every
    image feeds through BatchNorm and max-pooling, otherwise had every sampled entry set aside)."""
    result = np.full(len(idx), np.nan)
    todo = np.arange(len(idx))
    for k in range(tries):
        h = stencil["h"] / 10 ** k
        a = to_numpy(numerical_gradient(f, x, indices=idx[todo], **{**stencil, "h": h}))
        b = to_numpy(numerical_gradient(f, x, indices=idx[todo], **{**stencil, "h": h / 2}))
        finite = np.isfinite(a) & np.isfinite(b)
        # Rounding alone makes an estimate of a zero gradient (a dead unit's weight) about eps |f| / h, twice that
        # at h/2: no kink, and below anything a comparison at the gradients' scale could see.
        noise = 100 * np.finfo(np.float64).eps * abs(to_host(f())) / (h / 2)
        with np.errstate(invalid="ignore"):
            agree = np.abs(a - b) <= 1e-6 * np.maximum(np.abs(a) + np.abs(b), 1e-8) + noise
        result[todo] = np.where(finite, np.where(agree, b, np.nan), np.inf)
        todo = todo[np.isnan(result[todo])]
        if not todo.size:
            break
    return result


def check_network(net: Network, x, y, loss, samples: int | None = None, seed: int = 0,
                  trained: bool = False, progress=None) -> dict[str, float]:
    """Worst relative error of every parameter's gradient and of dL/dx, through a whole network; with
    ``samples``, over that many randomly chosen entries of each array (for networks too big to check whole).
    ``trained`` uses the fourth-order stencil with h = 1e-4, at h and h/2, skipping entries at kinks (see the
    module's docstring); the number skipped is reported under ``KINKS``. ``progress(name)``, if given, is called
    as each array's check ends (a bar for long checks)."""
    stencil = {"h": 1e-4, "order": 4} if trained else {}
    net.astype(np.float64)
    x, y = xp.asarray(x, dtype=xp.float64), xp.asarray(y)
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
        rng = np.random.default_rng(seed)

        def pick(size, offset=0):
            if samples is None or samples >= size:
                return np.arange(offset, offset + size)
            return offset + rng.choice(size, samples, replace=False)

        def numeric(array, idx):
            if trained:
                return _kink_free(f, array, idx, stencil)
            return numerical_gradient(f, array, indices=idx)

        pairs = {}
        for name, span in zip(net.parameters.names, net.parameters.slices):
            idx = pick(span.stop - span.start, span.start)
            pairs[name] = (to_numpy(analytic)[idx], to_numpy(numeric(net.parameters.values, idx)))
            if progress is not None:
                progress(name)
        idx = pick(x.size)
        pairs["dx"] = (to_numpy(dx).reshape(-1)[idx], to_numpy(numeric(x, idx)))
        if progress is not None:
            progress("dx")
        if trained:  # NaN marks a kink (_kink_free); elsewhere it is a non-finite value, which must fail
            kinks = sum(int(np.isnan(n).sum()) for _, n in pairs.values())
            pairs = {name: (a[~np.isnan(n)], n[~np.isnan(n)]) for name, (a, n) in pairs.items()}
        errors = _errors(pairs)
        if trained:
            errors[KINKS] = kinks
    finally:
        first.input_grad = False
    return errors


NOTHING_COMPARED = "nothing compared (the array has no entries, or every sampled entry was set aside at a kink)"
NON_FINITE = "non-finite values (NaN or infinity) in the analytic or the numerical gradient"


@dataclass
class CheckResult:
    """One check: the worst relative error of each array. It passes only when every array was compared and every
    error is finite and below TOLERANCE; ``problems`` says why it does not, array by array."""

    name: str
    errors: dict[str, float]

    @property
    def worst(self) -> float:
        values = list(self.errors.values())
        if any(math.isinf(v) for v in values):
            return math.inf
        if not values or any(math.isnan(v) for v in values):
            return math.nan
        return max(values)

    @property
    def problems(self) -> list[str]:
        """``"array: what"`` for each array that could not be judged: nothing compared, or non-finite values."""
        if not self.errors:
            return ["no arrays checked"]
        return [f"{name}: {NOTHING_COMPARED if math.isnan(e) else NON_FINITE}"
                for name, e in self.errors.items() if not math.isfinite(e)]

    @property
    def passed(self) -> bool:
        return not self.problems and self.worst < TOLERANCE


def _away_from_zero(rng, shape, margin=0.1):
    """Inputs with |x| >= margin, so ReLU-like kinks at 0 are never crossed by a step of h."""
    x = rng.standard_normal(shape)
    return np.where(x >= 0, x + margin, x - margin)


def _distinct(rng, shape, gap=0.05):
    """Values at least ``gap`` apart and away from 0, in random order: max-pooling has no ties to flip and ReLU
    no kink to cross within a step of h."""
    n = int(np.prod(shape))
    values = (np.arange(n) - n // 2 + 0.5) * gap
    return rng.permutation(values).reshape(shape)


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
    images = [
        ("Conv2D 3x3, stride 1, padding 1", Conv2D(2, 3, 3, padding=1, rng=rng), (2, 2, 5, 5)),
        ("Conv2D 3x3, stride 2, padding 0", Conv2D(2, 3, 3, stride=2, rng=rng), (2, 2, 7, 7)),
        ("Conv2D 2x2, stride 2, padding 1", Conv2D(1, 2, 2, stride=2, padding=1, rng=rng), (2, 1, 5, 5)),
        ("MaxPool2D 2x2", MaxPool2D(2), (2, 2, 4, 6)),
        ("MaxPool2D 3x3, stride 2", MaxPool2D(3, stride=2), (2, 2, 7, 7)),
        ("AvgPool2D 2x2", AvgPool2D(2), (2, 2, 4, 4)),
        ("GlobalAvgPool", GlobalAvgPool(), (2, 3, 4, 4)),
        ("Flatten", Flatten(), (2, 2, 3, 3)),
        ("BatchNorm (conv, training)", BatchNorm(3), (4, 3, 3, 3)),
        ("Residual (identity)", Residual([Conv2D(2, 2, 3, padding=1, rng=rng), ReLU(),
                                          Conv2D(2, 2, 3, padding=1, rng=rng)]), (2, 2, 5, 5)),
        ("Residual (1x1 projection, stride 2)", Residual([Conv2D(2, 3, 3, stride=2, padding=1, rng=rng),
                                                          BatchNorm(3), Tanh()]), (3, 2, 6, 6)),
    ]
    for name, layer, shape in images:
        results.append(CheckResult(name, check_layer(layer, _distinct(rng, shape), rng)))
    results.append(CheckResult("BatchNorm (dense, training)", check_layer(BatchNorm(5), rng.standard_normal((6, 5)),
                                                                           rng)))
    results.append(CheckResult("Residual (dense projection)", check_layer(Residual([Dense(5, 4, rng=rng), Tanh()]),
                                                                           rng.standard_normal((3, 5)), rng)))
    labels = rng.integers(0, 4, size=6)
    targets = rng.dirichlet(np.ones(4), size=6)
    # losses: one array each, so the scale is their own
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
