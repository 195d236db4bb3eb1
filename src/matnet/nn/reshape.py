"""Flatten: images to rows, between convolutional and dense layers."""

from __future__ import annotations

import math

from matnet.nn.layer import Layer

__all__ = ["Flatten"]


class Flatten(Layer):
    """x: (N, C, H, W) -> (N, C*H*W), a view where possible;  dx = dout reshaped back."""

    def forward(self, x, training=False):
        if training:
            self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout):
        return dout.reshape(self._saved())

    def output_shape(self, input_shape):
        return (math.prod(input_shape),)
