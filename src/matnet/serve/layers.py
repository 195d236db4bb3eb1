"""A network as the page draws it: each layer with its input, its operation and its shapes; the layers' outputs for
one image; which input pixels pushed the predicted class up or down; and arrays as JSON.

The layers are listed in the order ``Network.trace`` visits them (a residual block's layers, its projection, then
the block itself), each naming the layer whose output is its input (``"input"`` for the image), so that the page
can draw a Dense layer as the matrix product it is: ``z = x @ W.T + b`` with ``x`` the named layer's output.
"""

from __future__ import annotations

import base64
import copy

import numpy as np

from matnet.backend import to_numpy, xp
from matnet.nn.activations import ReLU
from matnet.nn.batchnorm import BatchNorm
from matnet.nn.dropout import Dropout
from matnet.nn.layer import Layer
from matnet.nn.residual import Residual

__all__ = ["ENCODINGS", "OPERATIONS", "encode", "layer_table", "traced_outputs", "dead_units", "explainable",
           "attribution"]

ENCODINGS = ("list", "base64")

# What each kind of layer computes, in the docstrings' notation (x the input, z a Dense layer's output).
OPERATIONS = {
    "Dense": "z = x @ W.T + b",
    "Conv2D": "out[f] = b[f] + sum over c, u, v of W[f, c, u, v] * x[c, i*s + u, j*s + v] (b = 0 without a bias)",
    "ReLU": "a = max(z, 0)",
    "LeakyReLU": "a = z if z > 0 else alpha * z",
    "Sigmoid": "a = 1 / (1 + exp(-z))",
    "Tanh": "a = tanh(z)",
    "Softmax": "p = exp(z) / sum(exp(z))",
    "BatchNorm": "out = gamma * (x - running_mean) / sqrt(running_var + eps) + beta",
    "MaxPool2D": "out = the largest value of each k x k window",
    "AvgPool2D": "out = the mean of each k x k window",
    "GlobalAvgPool": "out[c] = the mean of channel c",
    "Flatten": "out = x as one row",
    "Dropout": "out = x (dropout is off at inference)",
    "Residual": "out = F(x) + shortcut(x)",
}


def encode(array, encoding: str = "list") -> dict:
    """An array as JSON: ``{"shape", "data"}`` with nested lists (6 decimals), or ``{"shape", "dtype": "<f4",
    "base64"}``, its float32 bytes little-endian (what the page asks for: about a third of the size, and no
    parsing of numbers)."""
    a = np.asarray(to_numpy(array))
    if encoding == "base64":
        raw = np.ascontiguousarray(a, dtype="<f4").tobytes()
        return {"shape": list(a.shape), "dtype": "<f4", "base64": base64.b64encode(raw).decode("ascii")}
    return {"shape": list(a.shape), "data": np.round(a.astype(np.float64), 6).tolist()}


def _config(layer: Layer) -> dict:
    config = dict(layer.config())
    if isinstance(layer, Residual):
        config.pop("layers", None)   # its layers have rows of their own
    return config


def layer_table(model) -> list[dict]:
    """One row per layer, in trace order: ``name``, ``type``, ``input`` (the layer whose output it takes, or
    ``"input"``), ``input_shape``, ``output_shape`` (one sample's, no batch axis), ``parameters`` (the count),
    ``params`` (``{key: shape}``), ``config``, ``operation``, ``inside`` (the residual block it belongs to, or
    None) and, for a block, ``adds`` (the two layers whose outputs it adds)."""
    rows: list[dict] = []

    def row(layer, source, shape_in, shape_out, inside, **extra):
        rows.append({"name": layer.name, "type": type(layer).__name__, "input": source,
                     "input_shape": list(shape_in), "output_shape": list(shape_out),
                     "parameters": layer.num_params, "params": {k: list(p.shape) for k, p in layer.params.items()},
                     "config": _config(layer), "operation": OPERATIONS.get(type(layer).__name__, ""),
                     "inside": inside, **extra})

    def walk(layers, source, shape, inside):
        for layer in layers:
            if isinstance(layer, Residual):
                last, out = walk(layer.layers, source, shape, layer.name)
                shortcut = source
                if layer.projection is not None:
                    shortcut, _ = walk([layer.projection], source, shape, layer.name)
                row(layer, source, shape, out, inside, adds=[last, shortcut])
            else:
                out = tuple(layer.output_shape(shape))
                row(layer, source, shape, out, inside)
            source, shape = layer.name, out
        return source, shape

    walk(model.layers, "input", tuple(model.input_shape), None)
    return rows


def traced_outputs(model, x, encoding: str = "list"):
    """x: one sample as a batch (1, *input_shape) -> (``[{"name", "output"}]`` in trace order, each output
    without its batch axis and encoded, and the network's output (1, C), on the device). Evaluation mode."""
    seen = model.trace(x)
    layers = [{"name": layer.name, "output": encode(to_numpy(out)[0], encoding)} for layer, out in seen]
    return layers, seen[-1][1]     # the last top-level layer's output (on the device) comes last


def dead_units(model, x, chunk: int = 250) -> dict[str, list[int]]:
    """The dead units of each ReLU layer whose output is a row of units (one value per unit: after a Dense
    layer): the units that are 0 for every sample of x (N, *input_shape), in evaluation mode. Such a unit passes
    nothing on, and its incoming weights get no gradient. x goes through in chunks of ``chunk`` samples (a
    trace keeps every layer's output)."""
    fired: dict[str, np.ndarray] = {}
    for start in range(0, len(x), chunk):
        for layer, out in model.trace(x[start:start + chunk]):
            if isinstance(layer, ReLU) and out.ndim == 2:
                some = to_numpy((out > 0).any(axis=0))
                fired[layer.name] = fired[layer.name] | some if layer.name in fired else some
    return {name: np.flatnonzero(~some).tolist() for name, some in fired.items()}


def explainable(model) -> bool:
    """Whether ``attribution`` applies: a network without BatchNorm (an MLP, or a CNN without it). BatchNorm's
    training-mode forward, which the backward pass needs, would normalise one image by its own statistics and
    move the running ones."""
    return not any(isinstance(layer, BatchNorm) for layer in model.all_layers())


def attribution(model, x, target: int) -> np.ndarray:
    """Gradient x input: ``x * d out[target] / dx`` for one sample x (1, *input_shape), where ``out`` is the
    network's output (the logits, or the probabilities of a network ending in Softmax). Positive where a pixel's
    ink pushed the class ``target`` up, negative where it pushed it down; the values add up to the first-order
    (Taylor) estimate of how much the image moved ``out[target]`` away from a black image's.

    The gradient comes from the network's own backward pass, ``forward(x, training=True)`` then
    ``backward(onehot)``, run on a private copy of the layers (``copy.deepcopy``: for an MLP a fraction of a
    millisecond), with ``dL/dx`` switched on at the first layer and dropout off, so that the gradient is the
    evaluation-mode network's. The served network itself is only read: requests need no lock."""
    if not explainable(model):
        raise ValueError("gradient x input needs a network without BatchNorm")
    layers = copy.deepcopy(model.layers)
    layers[0].input_grad = True
    stack = list(layers)
    while stack:
        layer = stack.pop()
        stack += layer.sublayers()
        if isinstance(layer, Dropout):
            layer.p = 0.0
    out = x
    for layer in layers:
        out = layer.forward(out, training=True)
    dout = xp.zeros_like(out)
    dout[0, target] = 1
    for layer in reversed(layers):
        dout = layer.backward(dout)
    return to_numpy(dout * x)[0]
