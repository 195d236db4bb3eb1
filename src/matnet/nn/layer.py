"""The layer protocol every building block follows.

A layer maps a batch ``x`` to ``out = forward(x)`` and, given ``dout = dL/dout``, returns ``dx = dL/dx`` from
``backward(dout)`` while writing ``dL/dparam`` into ``grads``. ``params`` and ``grads`` are two dicts with the
same keys and shapes, so optimizers, summaries and savers loop over them and never special-case a layer.
"""

from __future__ import annotations

from typing import Any

from matnet.backend import xp

__all__ = ["Layer"]


class Layer:
    """Base class: parameters, gradients, a name, and the forward/backward pair.

    ``input_grad`` is True unless the layer's input is data (the first layer of a Sequential), in which case
    nobody needs ``dL/dx`` and a layer may skip computing it (for Dense that is a third of backward's work).
    """

    input_grad: bool = True

    def __init__(self, name: str | None = None):
        self.name = name
        self.params: dict[str, Any] = {}
        self.grads: dict[str, Any] = {}
        self.buffers: dict[str, Any] = {}  # state that is not trained but saved (BatchNorm's running statistics)
        self._cache = None  # what backward needs from forward; None until forward has run

    # --- the pair every subclass writes, forward directly followed by backward ---------------------------
    def forward(self, x, training: bool = False):
        raise NotImplementedError

    def backward(self, dout):
        raise NotImplementedError

    # --- shared plumbing ------------------------------------------------------------------------------
    def _saved(self):
        """What forward stored for backward; calling backward first is a clear error, not a crash later."""
        if self._cache is None:
            raise RuntimeError(f"{self.describe()}: backward() called before forward(x, training=True)")
        return self._cache

    def reset_parameters(self, rng) -> None:
        """Draw fresh initial parameters from the Generator ``rng`` (layers without parameters do nothing)."""

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one sample's output, given one sample's input shape (no batch axis); a ValueError saying
        what the layer takes when the input does not fit."""
        return input_shape

    def sublayers(self) -> list["Layer"]:
        """Layers inside this one (a residual block's); their parameters belong to the network too."""
        return []

    def config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this layer (saved in model files)."""
        return {}

    def astype(self, dtype) -> "Layer":
        """Cast parameters and gradients in place (float64 for gradient checks) and return self."""
        for key in self.params:
            self.params[key] = self.params[key].astype(dtype)
            self.grads[key] = xp.zeros_like(self.params[key])
        for key in self.buffers:
            self.buffers[key] = self.buffers[key].astype(dtype)
        for layer in self.sublayers():
            layer.astype(dtype)
        return self

    @property
    def num_params(self) -> int:
        return sum(int(p.size) for p in self.params.values())

    def describe(self) -> str:
        return f"{type(self).__name__}({self.name or ''})"

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"
