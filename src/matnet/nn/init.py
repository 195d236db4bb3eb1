"""Weight initialisers: draw a (fan_out, fan_in) matrix whose scale keeps activations' variance steady.

He (Kaiming), for ReLU-like layers, which zero half their inputs:
    normal  W ~ N(0, 2 / fan_in)                      uniform  W ~ U(-a, a), a = sqrt(6 / fan_in)
Xavier (Glorot), for tanh / sigmoid, balancing the forward and backward passes:
    normal  W ~ N(0, 2 / (fan_in + fan_out))          uniform  W ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out))
(a uniform U(-a, a) has variance a^2 / 3, so each uniform matches its normal's variance.)
Normal, the standard normal of Nielsen's ``network.py`` (chapter 1 of 'Neural Networks and Deep Learning'):
    normal  W ~ N(0, 1)   whatever the fan: with 784 inputs a unit's z has variance ~784 x (mean square input),
                          so sigmoids start saturated; kept to reproduce the book, not as a good default

Numbers are drawn on the CPU from the NumPy Generator passed in, so a seed gives the same weights on every backend.
"""

from __future__ import annotations

import math

import numpy as np

from matnet.backend import xp

__all__ = ["INITIALIZERS", "initialize"]


def _he_normal(rng, fan_in, fan_out, shape):
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=shape)


def _he_uniform(rng, fan_in, fan_out, shape):
    limit = math.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape)


def _xavier_normal(rng, fan_in, fan_out, shape):
    return rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), size=shape)


def _xavier_uniform(rng, fan_in, fan_out, shape):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def _normal(rng, fan_in, fan_out, shape):
    return rng.standard_normal(size=shape)


INITIALIZERS = {
    "he_normal": _he_normal,
    "he_uniform": _he_uniform,
    "xavier_normal": _xavier_normal,
    "xavier_uniform": _xavier_uniform,
    "normal": _normal,
}


def initialize(kind: str, rng: np.random.Generator, shape: tuple[int, ...], dtype=np.float32):
    """A weight array of ``shape = (fan_out, fan_in, ...)`` drawn by the initialiser named ``kind``."""
    try:
        draw = INITIALIZERS[kind]
    except KeyError:
        raise ValueError(f"unknown initialiser {kind!r}; choose one of {', '.join(INITIALIZERS)}") from None
    fan_out, fan_in = shape[0], int(np.prod(shape[1:]))
    return xp.asarray(draw(rng, fan_in, fan_out, shape), dtype=dtype)
