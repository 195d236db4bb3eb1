"""Batch normalisation: each feature (or channel) standardised over the batch, then scaled and shifted."""

from __future__ import annotations

from matnet.backend import xp
from matnet.nn.layer import Layer

__all__ = ["BatchNorm"]


class BatchNorm(Layer):
    """``xhat = (x - mean) / sqrt(var + eps)``,  ``out = gamma * xhat + beta``, per feature.

    Dense activations x: (N, D) are normalised over the batch; conv activations x: (N, C, H, W) over the batch
    and all positions, per channel. gamma, beta: (D,) or (C,). In training the batch's mean and (biased) variance
    are used and running estimates kept (``running = (1 - momentum) running + momentum batch``, the variance
    unbiased, as PyTorch does); in evaluation the running estimates are used.

    backward (training), with m values per feature and g = dout * gamma:
        dgamma = sum(dout * xhat),  dbeta = sum(dout),
        dx = (1 / m) / sqrt(var + eps) * (m g - sum(g) - xhat * sum(g * xhat))
    """

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5, name: str | None = None):
        super().__init__(name)
        self.num_features, self.momentum, self.eps = int(num_features), float(momentum), float(eps)
        self.params = {"gamma": xp.ones(self.num_features, dtype=xp.float32),
                       "beta": xp.zeros(self.num_features, dtype=xp.float32)}
        self.grads = {key: xp.zeros_like(p) for key, p in self.params.items()}
        self.buffers = {"running_mean": xp.zeros(self.num_features, dtype=xp.float32),
                        "running_var": xp.ones(self.num_features, dtype=xp.float32)}

    def reset_parameters(self, rng) -> None:
        self.params["gamma"][...] = 1
        self.params["beta"][...] = 0
        self.buffers["running_mean"][...] = 0
        self.buffers["running_var"][...] = 1

    def _axes(self, x):
        if x.ndim not in (2, 4) or x.shape[1] != self.num_features:
            raise ValueError(f"{self.describe()}: expected input (N, {self.num_features}) or "
                             f"(N, {self.num_features}, H, W), got {tuple(x.shape)}")
        return ((0,), (1, -1)) if x.ndim == 2 else ((0, 2, 3), (1, -1, 1, 1))

    def forward(self, x, training=False):
        axes, shape = self._axes(x)
        if training:
            mean, var = x.mean(axis=axes), x.var(axis=axes)
            m = x.size // self.num_features
            momentum = self.momentum
            self.buffers["running_mean"] *= 1 - momentum
            self.buffers["running_mean"] += momentum * mean
            self.buffers["running_var"] *= 1 - momentum
            self.buffers["running_var"] += momentum * var * (m / max(m - 1, 1))
        else:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
        inv_std = 1.0 / xp.sqrt(var + self.eps)
        xhat = (x - mean.reshape(shape)) * inv_std.reshape(shape)
        self._cache = (xhat, inv_std, axes, shape) if training else None
        return xhat * self.params["gamma"].reshape(shape) + self.params["beta"].reshape(shape)

    def backward(self, dout):
        xhat, inv_std, axes, shape = self._saved()
        xp.sum(dout * xhat, axis=axes, out=self.grads["gamma"])
        xp.sum(dout, axis=axes, out=self.grads["beta"])
        g = dout * self.params["gamma"].reshape(shape)
        m = dout.size // self.num_features
        centred = m * g - g.sum(axis=axes, keepdims=True) - xhat * (g * xhat).sum(axis=axes, keepdims=True)
        return centred * (inv_std / m).reshape(shape)

    def output_shape(self, input_shape):
        if not input_shape or input_shape[0] != self.num_features or len(input_shape) not in (1, 3):
            raise ValueError(f"takes inputs of shape ({self.num_features},) or ({self.num_features}, H, W) but the "
                             f"layer before it gives {tuple(input_shape)}")
        return input_shape

    def config(self):
        return {"num_features": self.num_features, "momentum": self.momentum, "eps": self.eps}
