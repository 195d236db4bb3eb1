"""The fully connected (affine) layer."""

from __future__ import annotations

import numpy as np

from matnet.backend import xp
from matnet.nn.init import initialize
from matnet.nn.layer import Layer, whole

__all__ = ["Dense"]


class Dense(Layer):
    """``z = x @ W.T + b``: every output is one neuron's weighted sum of all inputs plus its bias.

    This is the spec's column form ``Z = W X + b`` transposed: matnet keeps samples as rows (batch-first), and
    keeps ``W`` as in the spec, one row per neuron, so ``W[j]`` is neuron j's weights.

    forward:   x: (N, D),  W: (M, D),  b: (M,)   ->  z: (N, M)
    backward:  dz: (N, M)  ->  dW = dz.T @ x  (M, D),   db = dz.sum(0)  (M,),   dx = dz @ W  (N, D)
    """

    decayed = ("W",)  # L2 weight decay shrinks the weights, not the biases

    def __init__(self, in_features: int, out_features: int, init: str = "he_normal", *,
                 rng: np.random.Generator | None = None, dtype=np.float32, name: str | None = None):
        super().__init__(name)
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Dense({in_features}, {out_features}): sizes must be positive")
        self.in_features, self.out_features, self.init = int(in_features), int(out_features), init
        self.params = {key: xp.zeros(shape, dtype=dtype) for key, shape in self.param_shapes(self.config()).items()}
        self.grads = {key: xp.zeros_like(p) for key, p in self.params.items()}
        self.own_rng = rng is not None   # weights drawn from it are kept in a network too
        self.reset_parameters(rng if rng is not None else np.random.default_rng(0))

    @classmethod
    def param_shapes(cls, config):
        """W (out_features, in_features) and b (out_features,)."""
        arguments = cls.arguments(config)
        n_in, n_out = whole(arguments["in_features"], "in_features"), whole(arguments["out_features"], "out_features")
        return {"W": (n_out, n_in), "b": (n_out,)}

    def reset_parameters(self, rng) -> None:
        W = self.params["W"]
        W[...] = initialize(self.init, rng, W.shape, dtype=W.dtype)  # in place: W may be a view of a flat buffer
        self.params["b"][...] = 0

    def forward(self, x, training: bool = False):
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"{self.describe()}: expected input of shape (N, {self.in_features}), "
                             f"got {tuple(x.shape)}")
        z = x @ self.params["W"].T
        z += self.params["b"]
        if training:
            self._cache = x
        return z

    def backward(self, dout):
        x = self._saved()
        xp.matmul(dout.T, x, out=self.grads["W"])
        xp.sum(dout, axis=0, out=self.grads["b"])
        return dout @ self.params["W"] if self.input_grad else None

    def output_shape(self, input_shape):
        if tuple(input_shape) != (self.in_features,):
            raise ValueError(f"takes inputs of shape ({self.in_features},) but the layer before it gives "
                             f"{tuple(input_shape)}")
        return (self.out_features,)

    def config(self):
        return {"in_features": self.in_features, "out_features": self.out_features, "init": self.init}
