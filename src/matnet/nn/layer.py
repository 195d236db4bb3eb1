"""The layer protocol every building block follows.

A layer maps a batch ``x`` to ``out = forward(x)`` and, given ``dout = dL/dout``, returns ``dx = dL/dx`` from
``backward(dout)`` while writing ``dL/dparam`` into ``grads``. ``params`` and ``grads`` are two dicts with the
same keys and shapes, so optimizers, summaries and savers loop over them and never special-case a layer.

``build(input_shape)`` makes whatever depends on one sample's input shape (a residual block's projection) and
returns the output shape; a Network builds each of its layers once, in order, and a gradient check the layer it
checks. ``output_shape`` only answers the question and makes nothing, so it may be asked any number of times.

Evaluation mode, ``forward(x)``, reads the layer and writes nothing to it: any number of threads may run one
network's predictions at once (``matnet serve`` does, with no lock). Only ``forward(x, training=True)`` keeps what
``backward`` needs (``_cache``), so ``backward`` differentiates the last training-mode forward; ``forget()`` drops
that cache (the trainer does so before it evaluates, so that a finished step's arrays are not held meanwhile).

Sizing: ``param_shapes(config)`` is a layer type's one rule for the parameters it makes, from its config alone;
its constructor allocates exactly those, and :mod:`matnet.nn.sizing` adds them up (with ``params_to_make``, what
``build`` will add for a given input shape) before anything is made.
"""

from __future__ import annotations

import inspect
import math
import numbers
from typing import Any

import numpy as np

from matnet.backend import xp

__all__ = ["Layer", "whole", "count"]


def whole(value, what: str) -> int:
    """A size from a config (perhaps a model file's JSON): an integer, or a float with an integral value, >= 0; a
    ValueError naming ``what`` otherwise (a bool, a string, NaN, a fraction, a negative number)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) \
            or value != int(value) or value < 0:
        raise ValueError(f"{what} must be a whole number >= 0, got {value!r}")
    return int(value)


def count(shapes: dict[str, tuple[int, ...]]) -> int:
    """The number of values in arrays of these shapes (``param_shapes``'s answer) -> an int of any size."""
    return sum(math.prod(shape) for shape in shapes.values())


class Layer:
    """Base class: parameters, gradients, a name, and the forward/backward pair.

    ``input_grad`` is True unless the layer's input is data (the first layer of a Sequential), in which case
    nobody needs ``dL/dx`` and a layer may skip computing it (for Dense that is a third of backward's work).
    ``decayed`` names the parameters L2 weight decay applies to (Dense's and Conv2D's ``W``; never biases, nor
    BatchNorm's gamma and beta); :class:`~matnet.nn.parameters.Parameters` places them first in the flat vector.
    """

    input_grad: bool = True
    decayed: tuple[str, ...] = ()
    # True when the layer was given its own ``rng=``: a network then leaves it as it is (its initial parameters, or
    # Dropout's generator) instead of drawing them from the network's seed.
    own_rng: bool = False

    def __init__(self, name: str | None = None):
        self.name = name
        self.params: dict[str, Any] = {}
        self.grads: dict[str, Any] = {}
        self.buffers: dict[str, Any] = {}  # state that is not trained but saved (BatchNorm's running statistics)
        self._cache = None  # what backward needs from forward; None until forward has run
        # The Parameters whose flat vectors hold params and grads (set there); None while the layer stands alone.
        self.owner = None

    # --- the pair every subclass writes, forward directly followed by backward ---------------------------
    def forward(self, x, training: bool = False):
        raise NotImplementedError

    def backward(self, dout):
        raise NotImplementedError

    def trace(self, x) -> tuple[Any, list[tuple["Layer", Any]]]:
        """``forward(x)`` in evaluation mode, and every ``(layer, output)`` on the way: a block's sublayers', then
        its own (for looking inside a network: activations, dead units)."""
        out = self.forward(x)
        return out, [(self, out)]

    # --- shared plumbing ------------------------------------------------------------------------------
    def _saved(self):
        """What forward stored for backward; calling backward first is a clear error, not a crash later."""
        if self._cache is None:
            raise RuntimeError(f"{self.describe()}: backward() called before forward(x, training=True)")
        return self._cache

    def forget(self) -> None:
        """Drop what the last training-mode forward kept for backward (its own and its sublayers')."""
        self._cache = None
        for layer in self.sublayers():
            layer.forget()

    def reset_parameters(self, rng) -> None:
        """Draw fresh initial parameters from the Generator ``rng`` (layers without parameters do nothing); a
        network calls it with its seed's Generator on every layer that has no ``own_rng``."""

    def build(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Make what depends on one sample's input shape (no batch axis) and return the output shape, as
        ``output_shape`` would; a ValueError when the input does not fit. Most layers have nothing to make."""
        return tuple(self.output_shape(input_shape))

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one sample's output, given one sample's input shape (no batch axis); a ValueError saying
        what the layer takes when the input does not fit. Makes nothing: ``build`` does that."""
        return input_shape

    # --- sizing: the parameters a layer makes, known before it is made ----------------------------------------
    @classmethod
    def param_shapes(cls, config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        """``{key: shape}`` of the parameters a layer of this ``config`` makes, in the order of ``params``, from the
        config alone, making nothing: the layer type's one sizing rule. Its constructor allocates exactly these;
        :mod:`matnet.nn.sizing` adds them up before anything is built (``config`` may be a model file's, so every
        size is checked with ``whole``). Layers without parameters make none."""
        return {}

    @classmethod
    def sublayer_specs(cls, config: dict[str, Any]) -> list:
        """The specs of the layers a layer of this ``config`` holds (a residual block's), sized with it."""
        return []

    @classmethod
    def arguments(cls, config: dict[str, Any]) -> dict[str, Any]:
        """``config`` as the constructor's arguments, its defaults filled in; a TypeError names a missing or unknown
        setting, as the constructor would."""
        bound = inspect.signature(cls).bind(**config)
        bound.apply_defaults()
        return bound.arguments

    @classmethod
    def spec_of(cls, *args, name: str | None = None, **kwargs) -> dict[str, Any]:
        """The spec of the layer ``cls(*args, **kwargs)``, without making it, so that it can be sized first
        (``matnet.nn.sizing.build_within``); ``build_layer`` makes it."""
        config = dict(inspect.signature(cls).bind(*args, **kwargs).arguments)
        return {"type": cls.__name__, "name": name, "config": config}

    def params_to_make(self, input_shape: tuple[int, ...]) -> int:
        """How many parameters ``build(input_shape)`` would make (a residual block's projection), found without
        making them. Most layers make nothing there."""
        return 0

    def sublayers(self) -> list["Layer"]:
        """Layers inside this one (a residual block's); their parameters belong to the network too."""
        return []

    def made_layers(self) -> list["Layer"]:
        """Those of ``sublayers()`` that ``build`` made rather than the user gave (a residual projection). A
        network names them after all the others, so that they never renumber the layers the user wrote."""
        return []

    def config(self) -> dict[str, Any]:
        """Constructor arguments that rebuild this layer (saved in model files, so JSON values only)."""
        return {}

    def spec(self) -> dict[str, Any]:
        """``{"type", "name", "config"}``: what a model file stores of this layer (a block's config holds its
        layers' specs)."""
        return {"type": type(self).__name__, "name": self.name, "config": self.config()}

    @classmethod
    def from_config(cls, config: dict[str, Any], build_layer, name: str | None = None) -> "Layer":
        """The layer ``config()`` describes; a TypeError names a wrong setting. ``build_layer(spec)`` (handed in
        by the registry, so that no layer imports it) turns a block's nested specs into layers."""
        return cls(**config, name=name)

    def astype(self, dtype) -> "Layer":
        """Cast parameters and gradients in place (float64 for gradient checks) and return self.

        A ValueError for a layer inside a network: its arrays are views of the network's flat vector, which
        new arrays would silently leave behind; ``network.astype(dtype)`` casts every layer and gathers them
        into a new vector."""
        if self.owner is not None:
            raise ValueError(f"{self.describe()} belongs to a network, whose flat parameter vector holds its "
                             f"arrays: cast the network instead, network.astype({np.dtype(dtype).name})")
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
