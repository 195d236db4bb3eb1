"""Batch normalisation: each feature (or channel) standardised over the batch, then scaled and shifted."""

from __future__ import annotations

import math

from matnet.backend import xp
from matnet.nn.layer import Layer, whole
from matnet.nn.layout import Channels

__all__ = ["BatchNorm", "fold"]


def fold(gamma, beta, running_mean, running_var, eps: float):
    """BatchNorm in evaluation form, ``out = x * scale + shift`` per feature or channel:
    ``scale = gamma / sqrt(running_var + eps)``, ``shift = beta - running_mean * scale``. Any arrays (the layer's
    own on the device, or the exports' float64 copies on the host): the one place this algebra is written."""
    scale = gamma / (running_var + eps) ** 0.5
    return scale, beta - running_mean * scale


class BatchNorm(Layer):
    """``xhat = (x - mean) / sqrt(var + eps)``,  ``out = gamma * xhat + beta``, per feature.

    Dense activations x: (N, D) are normalised over the batch; conv activations x: (N, C, H, W) over the batch
    and all positions, per channel. gamma, beta: (D,) or (C,). In training the batch's mean and (biased) variance
    are used and running estimates kept (``running = (1 - momentum) running + momentum batch``, the variance
    unbiased, as PyTorch does); in evaluation the running estimates are used.

    backward (training), with m values per feature (sums over them):
        dgamma = sum(dout * xhat),  dbeta = sum(dout),
        dx = gamma / sqrt(var + eps) * (dout - (dbeta + xhat * dgamma) / m)

    Conv activations are handled as the (N*H*W, C) matrix of their positions (free in matnet's channels-last
    layout): ``layout.Channels`` gives the values, each channel's sum and mean, and a per-channel vector ready
    to combine with them.
    """

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5, name: str | None = None):
        super().__init__(name)
        if not 0 < float(eps) < math.inf:       # sqrt(var + eps) must stay away from 0 and from NaN
            raise ValueError(f"BatchNorm(eps={eps}): eps must be a positive number")
        if not 0 <= float(momentum) <= 1:
            raise ValueError(f"BatchNorm(momentum={momentum}): momentum must be in [0, 1]")
        self.num_features, self.momentum, self.eps = int(num_features), float(momentum), float(eps)
        shapes = self.param_shapes(self.config())
        self.params = {key: xp.zeros(shape, dtype=xp.float32) for key, shape in shapes.items()}
        self.grads = {key: xp.zeros_like(p) for key, p in self.params.items()}
        self.buffers = {"running_mean": xp.zeros(self.num_features, dtype=xp.float32),
                        "running_var": xp.zeros(self.num_features, dtype=xp.float32)}
        self.reset_parameters(None)       # gamma 1, beta 0, the running statistics those of N(0, 1)

    @classmethod
    def param_shapes(cls, config):
        """gamma and beta (num_features,) (and as many running statistics, buffers, not parameters)."""
        n = whole(cls.arguments(config)["num_features"], "num_features")
        return {"gamma": (n,), "beta": (n,)}

    def reset_parameters(self, rng) -> None:
        self.params["gamma"][...] = 1
        self.params["beta"][...] = 0
        self.buffers["running_mean"][...] = 0
        self.buffers["running_var"][...] = 1

    def _check(self, x):
        if x.ndim not in (2, 4) or x.shape[1] != self.num_features:
            raise ValueError(f"{self.describe()}: expected input (N, {self.num_features}) or "
                             f"(N, {self.num_features}, H, W), got {tuple(x.shape)}")

    def forward(self, x, training=False):
        self._check(x)
        ch = Channels(x)                     # per-channel sums and broadcasts, over the batch and all positions
        x_ = ch.values(x)
        gamma, beta = self.params["gamma"], self.params["beta"]
        if not training:
            scale, shift = fold(gamma, beta, self.buffers["running_mean"], self.buffers["running_var"], self.eps)
            out = x_ * ch.each(scale)
            out += ch.each(shift)
            return ch.shaped(out)
        m = ch.m
        mean = ch.mean(x_)
        centred = x_ - ch.each(mean)
        var = ch.mean(centred * centred)     # two passes: E[x^2] - mean^2 would cancel in float32
        inv_std = 1.0 / xp.sqrt(var + self.eps)
        self._update_running(mean, var * (m / max(m - 1, 1)))
        self._cache = (ch, centred, inv_std)  # xhat = centred * inv_std, never stored: a pass saved each way
        out = centred * ch.each(gamma * inv_std)                           # gamma * xhat + beta
        out += ch.each(beta)       # in place, here and above and below: ``a * b + c`` would hold two full arrays
        return ch.shaped(out)

    def _update_running(self, mean, unbiased_var):
        momentum = self.momentum
        self.buffers["running_mean"] *= 1 - momentum
        self.buffers["running_mean"] += momentum * mean
        self.buffers["running_var"] *= 1 - momentum
        self.buffers["running_var"] += momentum * unbiased_var

    def backward(self, dout):
        ch, centred, inv_std = self._saved()
        d = ch.values(dout)
        dbeta = ch.sum(d)
        dgamma = ch.sum(d * centred) * inv_std                             # sum(dout * xhat)
        self.grads["beta"][...] = dbeta
        self.grads["gamma"][...] = dgamma
        # dx = gamma * inv_std * (dout - (dbeta + xhat * dgamma) / m), with xhat = centred * inv_std
        scale, m = self.params["gamma"] * inv_std, ch.m
        dx = d * ch.each(scale)
        dx -= centred * ch.each(scale * inv_std * dgamma / m)
        dx -= ch.each(scale * dbeta / m)
        return ch.shaped(dx)

    def output_shape(self, input_shape):
        if not input_shape or input_shape[0] != self.num_features or len(input_shape) not in (1, 3):
            raise ValueError(f"takes inputs of shape ({self.num_features},) or ({self.num_features}, H, W) but the "
                             f"layer before it gives {tuple(input_shape)}")
        return input_shape

    def config(self):
        return {"num_features": self.num_features, "momentum": self.momentum, "eps": self.eps}
