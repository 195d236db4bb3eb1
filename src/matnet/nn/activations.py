"""Elementwise activations and softmax. Each caches the one array its backward needs.

All map x: (N, ...) -> out: (N, ...) of the same shape, and dout -> dx of the same shape.
"""

from __future__ import annotations

from matnet.backend import xp
from matnet.nn.layer import Layer

__all__ = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "softmax", "ACTIVATIONS"]


class ReLU(Layer):
    """``out = max(x, 0)``;  ``dx = dout * [x > 0]``  (the derivative at 0 is taken as 0)."""

    def forward(self, x, training=False):
        out = xp.maximum(x, 0)
        if training:
            self._cache = out
        return out

    def backward(self, dout):
        out = self._saved()
        return dout * (out > 0)


class LeakyReLU(Layer):
    """``out = x if x > 0 else alpha * x``;  ``dx = dout * (1 if x > 0 else alpha)``: dead units still learn."""

    def __init__(self, alpha: float = 0.01, name: str | None = None):
        super().__init__(name)
        self.alpha = float(alpha)

    def forward(self, x, training=False):
        positive = x > 0
        if training:
            self._cache = positive
        return xp.where(positive, x, x * self.alpha)

    def backward(self, dout):
        positive = self._saved()
        return xp.where(positive, dout, dout * self.alpha)

    def config(self):
        return {"alpha": self.alpha}


class Sigmoid(Layer):
    """``out = 1 / (1 + exp(-x))``, computed as ``(1 + tanh(x / 2)) / 2``, which cannot overflow;
    ``dx = dout * out * (1 - out)``."""

    def forward(self, x, training=False):
        out = xp.tanh(x * 0.5)
        out += 1
        out *= 0.5
        if training:
            self._cache = out
        return out

    def backward(self, dout):
        out = self._saved()
        return dout * out * (1 - out)


class Tanh(Layer):
    """``out = tanh(x)``;  ``dx = dout * (1 - out^2)``."""

    def forward(self, x, training=False):
        out = xp.tanh(x)
        if training:
            self._cache = out
        return out

    def backward(self, dout):
        out = self._saved()
        return dout * (1 - out * out)


def softmax(z, axis: int = -1):
    """``p_i = exp(z_i - max z) / sum_j exp(z_j - max z)``: subtracting the max changes nothing but overflow."""
    e = xp.exp(z - z.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


class Softmax(Layer):
    """Rows of probabilities: ``out = softmax(x)`` over the last axis, x: (N, C) -> out: (N, C).

    backward, through the Jacobian ``d out_i / d x_j = out_i (delta_ij - out_j)``:
    ``dx = out * (dout - sum(dout * out, axis=1))``.
    For training a classifier, end the model with logits and use SoftmaxCrossEntropy instead: fused, it is
    cheaper and stable. This layer is for models that must output probabilities.
    """

    def forward(self, x, training=False):
        out = softmax(x, axis=-1)
        if training:
            self._cache = out
        return out

    def backward(self, dout):
        out = self._saved()
        return out * (dout - (dout * out).sum(axis=-1, keepdims=True))


ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "sigmoid": Sigmoid, "tanh": Tanh}
