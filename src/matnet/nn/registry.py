"""Every layer type by name, and layers to and from their specs (``{"type", "name", "config"}``), for model files."""

from __future__ import annotations

from matnet.nn.activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from matnet.nn.batchnorm import BatchNorm
from matnet.nn.conv import Conv2D
from matnet.nn.dense import Dense
from matnet.nn.dropout import Dropout
from matnet.nn.pool import AvgPool2D, GlobalAvgPool, MaxPool2D
from matnet.nn.reshape import Flatten
from matnet.nn.residual import Residual

__all__ = ["LAYERS", "layer_spec", "build_layer"]

LAYERS = {cls.__name__: cls for cls in (Dense, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, Dropout, Conv2D, MaxPool2D,
                                        AvgPool2D, GlobalAvgPool, Flatten, BatchNorm, Residual)}


def layer_spec(layer) -> dict:
    return {"type": type(layer).__name__, "name": layer.name, "config": layer.config()}


def build_layer(spec: dict):
    """The layer a spec describes; a KeyError names an unknown type, a TypeError a wrong setting."""
    return LAYERS[spec["type"]](**spec.get("config", {}), name=spec.get("name"))
