"""Layers to specs and back: every registered type, blocks nested in blocks, and the errors for bad specs."""

import json

import numpy as np
import pytest

from matnet.backend import to_device, to_numpy
from matnet.nn import (LAYERS, AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Flatten, GlobalAvgPool, LeakyReLU,
                       MaxPool2D, Network, ReLU, Residual, Sigmoid, Softmax, Tanh, build_layer, layer_spec)

# one layer of every registered type, with settings away from the defaults where there are any
EXAMPLES = {
    "Dense": lambda: Dense(5, 4, init="xavier_uniform", name="d"),
    "ReLU": lambda: ReLU(),
    "LeakyReLU": lambda: LeakyReLU(0.2, name="leaky"),
    "Sigmoid": lambda: Sigmoid(),
    "Tanh": lambda: Tanh(),
    "Softmax": lambda: Softmax(),
    "Dropout": lambda: Dropout(0.3),
    "Conv2D": lambda: Conv2D(2, 6, 5, stride=2, padding=2, init="xavier_normal"),
    "MaxPool2D": lambda: MaxPool2D(3, stride=2),
    "AvgPool2D": lambda: AvgPool2D(2),
    "GlobalAvgPool": lambda: GlobalAvgPool(),
    "Flatten": lambda: Flatten(),
    "BatchNorm": lambda: BatchNorm(6, momentum=0.2, eps=1e-3),
    "Residual": lambda: Residual([Conv2D(3, 3, 3, padding=1), BatchNorm(3), ReLU()], name="block"),
}


def test_every_registered_type_has_an_example():
    assert set(EXAMPLES) == set(LAYERS)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_every_type_round_trips_through_its_spec(kind):
    layer = EXAMPLES[kind]()
    spec = layer_spec(layer)
    assert list(spec) == ["type", "name", "config"] and spec["type"] == kind and spec["name"] == layer.name
    assert json.loads(json.dumps(spec)) == spec                                   # JSON values only
    back = build_layer(json.loads(json.dumps(spec)))
    assert type(back) is type(layer) and back.name == layer.name
    assert back.config() == layer.config() and layer_spec(back) == spec


def test_a_residual_spec_nests_its_layers_specs_exactly():
    block = Residual([Dense(4, 3, name="inner"), Tanh(name="t")], name="block")
    block.build((4,))                                                             # makes a Dense projection
    assert layer_spec(block) == {
        "type": "Residual", "name": "block",
        "config": {"layers": [{"type": "Dense", "name": "inner",
                               "config": {"in_features": 4, "out_features": 3, "init": "he_normal"}},
                              {"type": "Tanh", "name": "t", "config": {}}],
                   "projection": True}}
    back = build_layer(layer_spec(block))
    assert [type(layer) for layer in back.layers] == [Dense, Tanh] and back.projection is None
    assert layer_spec(back) == layer_spec(block)                                 # asked for, so said, before build
    back.build((4,))
    assert isinstance(back.projection, Dense) and layer_spec(back) == layer_spec(block)


def test_blocks_nested_in_blocks_round_trip_and_run(rng):
    inner = Residual([Dense(4, 4), Tanh()])
    net = Network([Residual([Dense(4, 4), inner, Dense(4, 2)], name="outer")], input_shape=(4,))
    spec = layer_spec(net.layers[0])                        # built: the outer block has its projection, says so
    assert spec["config"]["projection"] is True and spec["config"]["layers"][1]["type"] == "Residual"
    assert spec["config"]["layers"][1]["config"] == {
        "layers": [{"type": "Dense", "name": "dense_2", "config": {"in_features": 4, "out_features": 4,
                                                                    "init": "he_normal"}},
                   {"type": "Tanh", "name": "tanh_1", "config": {}}],
        "projection": False}
    back = Network([build_layer(json.loads(json.dumps(spec)))], input_shape=(4,))
    assert isinstance(back.layers[0].layers[1], Residual) and layer_spec(back.layers[0]) == spec
    assert back.parameters.names == net.parameters.names
    back.parameters.values[:] = net.parameters.values
    x = to_device(rng.standard_normal((3, 4)).astype(np.float32))
    np.testing.assert_array_equal(to_numpy(back.forward(x)), to_numpy(net.forward(x)))


def test_an_unknown_type_is_a_key_error_that_names_it():
    with pytest.raises(KeyError, match="Conv9D"):
        build_layer({"type": "Conv9D", "name": None, "config": {}})
    with pytest.raises(KeyError, match="Conv9D"):
        build_layer({"type": "Residual", "config": {"layers": [{"type": "Conv9D"}]}})


@pytest.mark.parametrize("spec", [
    {"type": "Dense", "config": {"in_features": 2, "out_features": 3, "units": 3}},
    {"type": "Dense", "config": {"in_features": 2}},
    {"type": "ReLU", "config": {"alpha": 0.1}},
    {"type": "Residual", "config": {"projection": False}},
    {"type": "Residual", "config": {"layers": [{"type": "Tanh"}], "skip": True}},
    {"type": "Residual", "config": {"layers": [{"type": "Dense", "config": {"size": 3}}]}},
], ids=["unknown setting", "missing setting", "setting of another layer", "block without layers",
        "unknown block setting", "wrong setting inside a block"])
def test_a_wrong_setting_is_a_type_error(spec):
    with pytest.raises(TypeError):
        build_layer(spec)


def test_a_missing_config_or_name_means_the_defaults():
    layer = build_layer({"type": "Dropout"})
    assert isinstance(layer, Dropout) and layer.name is None and layer.config() == Dropout().config()
