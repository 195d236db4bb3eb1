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
    """``{"type", "name", "config"}``, JSON values only; a block's config holds its layers' specs."""
    return layer.spec()


def build_layer(spec: dict):
    """The layer a spec describes; a KeyError names an unknown type, a TypeError a wrong setting. Blocks get this
    function to build the specs nested in theirs, which spares them importing this module (which imports them)."""
    return LAYERS[spec["type"]].from_config(spec.get("config", {}), build_layer, name=spec.get("name"))
