"""Every registered layer type is known to every place that must know it, or clearly refused there.

Adding a layer ("Add a layer" in docs/contributing.md lists the places): the registry and ``matnet.nn``, a gradient
check in ``nn/gradcheck.standard_checks``, its formula on the served page (``serve/layers.OPERATIONS``), an ONNX emitter
(``export/onnx_export.EMITTERS``) and a C step (``export/c_export.STEPS``, or ``REFUSED`` with a clear error).
Each test below fails naming the layer and the place it is missing from.
"""

from __future__ import annotations

import numpy as np
import pytest

import matnet.nn
from matnet.errors import MatnetError
from matnet.export import c_export, onnx_export
from matnet.model import Sequential
from matnet.nn import (AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Flatten, GlobalAvgPool, LeakyReLU, MaxPool2D,
                       ReLU, Residual, Sigmoid, Softmax, Tanh)
from matnet.nn.gradcheck import standard_checks
from matnet.nn.registry import LAYERS, build_layer, layer_spec
from matnet.serve.layers import OPERATIONS

# One small instance of each type, and the input shape it takes (one sample).
EXAMPLES = {
    "Dense": (lambda: Dense(4, 3), (4,)),
    "ReLU": (ReLU, (4,)),
    "LeakyReLU": (lambda: LeakyReLU(0.2), (4,)),
    "Sigmoid": (Sigmoid, (4,)),
    "Tanh": (Tanh, (4,)),
    "Softmax": (Softmax, (4,)),
    "Dropout": (lambda: Dropout(0.3), (4,)),
    "Conv2D": (lambda: Conv2D(1, 2, 3, padding=1), (1, 4, 4)),
    "MaxPool2D": (lambda: MaxPool2D(2), (1, 4, 4)),
    "AvgPool2D": (lambda: AvgPool2D(2), (1, 4, 4)),
    "GlobalAvgPool": (GlobalAvgPool, (1, 4, 4)),
    "Flatten": (Flatten, (1, 4, 4)),
    "BatchNorm": (lambda: BatchNorm(4), (4,)),
    "Residual": (lambda: Residual([Dense(4, 4), Tanh()]), (4,)),
}


def test_every_registered_layer_has_an_example_here():
    missing = sorted(set(LAYERS) - set(EXAMPLES))
    assert not missing, f"add an example of {', '.join(missing)} to EXAMPLES in tests/test_layers_everywhere.py"


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_the_registry_and_the_package_rebuild_it(name):
    make, shape = EXAMPLES[name]
    layer = make()
    assert getattr(matnet.nn, name, None) is LAYERS[name], f"{name}: export it from matnet.nn (nn/__init__.py)"
    rebuilt = build_layer(layer_spec(layer))
    assert type(rebuilt) is type(layer) and rebuilt.config() == layer.config(), f"{name}: nn/registry.py"


def test_every_layer_has_a_gradient_check():
    checked = [result.name for result in standard_checks(seed=0)]
    missing = [name for name in LAYERS if not any(check.split(" ")[0] == name for check in checked)]
    assert not missing, f"no gradient check in nn/gradcheck.standard_checks for: {', '.join(missing)}"


def test_every_layer_has_its_formula_on_the_page():
    missing = [name for name in LAYERS if name not in OPERATIONS]
    assert not missing, f"no formula in serve/layers.OPERATIONS for: {', '.join(missing)}"


def test_every_layer_has_an_onnx_emitter():
    missing = [name for name, cls in LAYERS.items() if cls not in onnx_export.EMITTERS]
    assert not missing, f"export/onnx_export.EMITTERS neither handles nor refuses: {', '.join(missing)}"


def test_every_layer_has_a_c_step_or_a_clear_refusal():
    known = set(c_export.STEPS) | set(c_export.SKIPPED) | set(c_export.REFUSED)
    missing = [name for name, cls in LAYERS.items() if cls not in known]
    assert not missing, f"export/c_export.py (STEPS, SKIPPED or REFUSED) does not know: {', '.join(missing)}"


@pytest.mark.parametrize("cls", c_export.REFUSED, ids=lambda cls: cls.__name__)
def test_a_layer_the_c_export_refuses_is_one_line_naming_it(cls):
    make, shape = EXAMPLES[cls.__name__]
    layers = [make(), Flatten()] if len(shape) == 3 else [make()]
    head = Dense(int(np.prod(_output_shape(layers, shape))), 10)
    model = Sequential([*layers, head], input_shape=shape, classes=[str(i) for i in range(10)])
    with pytest.raises(MatnetError, match=rf"\({cls.__name__}\) cannot be exported to C"):
        c_export.c_sources(model)


def _output_shape(layers, shape):
    for layer in layers:
        shape = layer.output_shape(shape)
    return shape


def _state(layer):
    """Every attribute of a layer and of its sublayers, as (name, object identity) pairs, and a copy of each array
    it holds (params, grads, buffers): what a forward pass could have written."""
    found = []
    for one in [layer, *layer.sublayers()]:
        found += [(one.name, key, id(value)) for key, value in vars(one).items()]
        for group in (one.params, one.grads, one.buffers):
            found += [(one.name, key, np.asarray(value).tobytes()) for key, value in group.items()]
    return found


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_evaluation_mode_writes_nothing_to_the_layer(name):
    """``forward(x)`` only reads a layer, also after a training step (whose cache it leaves alone): predictions
    from many threads on one network need no lock (matnet serve)."""
    make, shape = EXAMPLES[name]
    net = Sequential([make()], input_shape=shape, seed=0)
    layer = net.layers[0]
    x = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
    for trained in (False, True):
        if trained:
            net.forward(x, training=True)
        before = _state(layer)
        net.forward(x)
        net.trace(x)
        assert _state(layer) == before, f"{name}: forward(x, training=False) changed the layer"
    net.forget()
    assert all(one._cache is None for one in net.all_layers())
