"""One sizing rule per layer type (``param_shapes``), summed before anything is made (``matnet.nn.sizing``), and the
one limit that the builders and the model-file reader hold a network to."""

import functools

import pytest

from matnet import Sequential, build_cnn, build_fastcnn, build_mlp, build_resnet, load_model, save_model
from matnet.errors import MatnetError
from matnet.nn import BatchNorm, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Residual, registry
from matnet.nn.sizing import build_within, check_params, count_text, params_limit, spec_params

ARGUMENTS = {"Dense": (3, 2), "Conv2D": (2, 3, 3), "BatchNorm": (4,), "Residual": ([ReLU()],)}


@pytest.mark.parametrize("name", sorted(registry.LAYERS))
def test_each_layer_makes_what_its_rule_says(name):
    """The constructor allocates exactly ``param_shapes(config)``, and sizing a spec counts the same."""
    cls = registry.LAYERS[name]
    layer = cls(*ARGUMENTS.get(name, ()))
    assert {key: tuple(p.shape) for key, p in layer.params.items()} == cls.param_shapes(layer.config())
    assert spec_params(layer.spec()) == layer.num_params


def test_the_rules_of_the_layers_with_parameters():
    assert Dense.param_shapes({"in_features": 3, "out_features": 2}) == {"W": (2, 3), "b": (2,)}
    assert Conv2D.param_shapes({"in_channels": 2, "out_channels": 3}) == {"W": (3, 2, 3, 3), "b": (3,)}   # defaults
    assert Conv2D.param_shapes({"in_channels": 2, "out_channels": 3, "bias": False}) == {"W": (3, 2, 3, 3)}
    assert Conv2D(2, 3, 3, bias=False).num_params == 3 * 2 * 9
    assert BatchNorm.param_shapes({"num_features": 4}) == {"gamma": (4,), "beta": (4,)}
    nested = Residual.spec_of([Dense.spec_of(4, 4), Residual.spec_of([BatchNorm.spec_of(4)])])
    assert spec_params(nested) == 20 + 8


@pytest.mark.parametrize("config,error", [
    ({"in_features": "6", "out_features": 2}, ValueError),        # a file's string is no size
    ({"in_features": 1.5, "out_features": 2}, ValueError),
    ({"in_features": True, "out_features": 2}, ValueError),
    ({"in_features": -1, "out_features": 2}, ValueError),
    ({"out_features": 2}, TypeError),                             # missing, as the constructor would say
    ({"in_features": 1, "out_features": 2, "colour": 3}, TypeError),
])
def test_a_config_that_is_no_layer_is_refused_by_its_rule(config, error):
    with pytest.raises(error):
        spec_params({"type": "Dense", "config": config})


def test_a_spec_of_a_layer_is_its_spec():
    for layer, spec in ((Conv2D(1, 4, 3, padding=1, bias=False), Conv2D.spec_of(1, 4, 3, padding=1, bias=False)),
                        (Dense(5, 2, init="xavier_normal"), Dense.spec_of(5, 2, init="xavier_normal"))):
        assert registry.build_layer(spec).spec() == layer.spec()


def test_projections_are_sized_before_they_are_made():
    """Blocks at any depth, images and rows: the count ``build_within`` checks is what the network then has."""
    model = Sequential([Conv2D(1, 4, 3, padding=1), Residual([Conv2D(4, 8, 3, stride=2, padding=1), BatchNorm(8)]),
                        Residual([MaxPool2D(2), Residual([ReLU()], projection=True)]), Flatten(),
                        Residual([Dense(32, 16)]), Dense(16, 10)], input_shape=(1, 8, 8))
    asked = []
    layers = build_within([layer.spec() for layer in model.layers], (1, 8, 8), lambda *a: asked.append(a))
    assert asked[-1] == (model.num_params, False) and asked[0][0] < model.num_params and asked[0][1]
    assert all(not layer.made_layers() for layer in layers)        # counted, not made
    assert Sequential(layers, input_shape=(1, 8, 8)).num_params == model.num_params


def test_a_layer_that_does_not_fit_is_named():
    with pytest.raises(ValueError, match=r"layer 2 \(Dense\) takes inputs of shape \(5,\)"):
        build_within([Dense.spec_of(3, 4), Dense.spec_of(5, 2)], (3,), lambda *a: None)


@pytest.mark.parametrize("build", [lambda **k: build_mlp([784, 30, 10], **k), lambda **k: build_cnn(**k),
                                   lambda **k: build_fastcnn(**k), lambda **k: build_resnet(**k)],
                         ids=["mlp", "cnn", "fastcnn", "resnet"])
def test_every_builder_holds_the_limit_at_its_exact_count(build):
    n = build().num_params
    assert build(max_params=n).num_params == n
    with pytest.raises(MatnetError, match=f"would make {n:,} parameters, more than the limit of {n - 1:,}"):
        build(max_params=n - 1)


def test_a_resnet_over_the_limit_is_refused_before_anything_is_made(monkeypatch):
    """Over the limit in its layers: no layer is made. Over it only with its projection (2,112 parameters, which
    the network makes when it builds the block): the layers are made (within the limit), the projection never."""
    made, built = [], []

    def spy(method, calls):
        @functools.wraps(method)              # the same signature: specs are bound to the constructor's
        def called(self, *args, **kwargs):
            calls.append(args)
            return method(self, *args, **kwargs)
        return called

    monkeypatch.setattr(Conv2D, "__init__", spy(Conv2D.__init__, made))
    monkeypatch.setattr(Residual, "build", spy(Residual.build, built))
    full = 77_226
    with pytest.raises(MatnetError, match=r"the resnet \(10 classes\) would make 75,114 parameters or more, more "
                                          r"than the limit of 1,000"):
        build_resnet(max_params=1000)
    assert made == [] and built == []
    with pytest.raises(MatnetError, match="would make 77,226 parameters, more than the limit of 75,114"):
        build_resnet(max_params=full - 2112)
    assert len(made) == 5 and built == []                 # its five 3x3 convolutions, no 1x1 projection
    monkeypatch.setenv("MATNET_MAX_PARAMS", str(full - 1))
    with pytest.raises(MatnetError, match="more than the limit of 77,225"):
        build_resnet()
    monkeypatch.setenv("MATNET_MAX_PARAMS", str(full))
    assert build_resnet().num_params == full


def test_the_limit_and_its_words(monkeypatch):
    monkeypatch.delenv("MATNET_MAX_PARAMS", raising=False)
    assert params_limit() == 50_000_000 and params_limit(7) == 7
    monkeypatch.setenv("MATNET_MAX_PARAMS", "12")
    assert params_limit() == 12
    check_params(12, "twelve")
    with pytest.raises(MatnetError, match=r"^thirteen would make 13 parameters, more than the limit of 12 "):
        check_params(13, "thirteen")
    monkeypatch.setenv("MATNET_MAX_PARAMS", "lots")
    with pytest.raises(MatnetError, match="MATNET_MAX_PARAMS='lots': expected a whole number"):
        params_limit()
    assert count_text(1234567) == "1,234,567" and count_text(5 * 10**300) == "5.0e+300"


def test_a_model_file_is_sized_by_the_same_rule(tmp_path):
    model = build_resnet(seed=1)
    save_model(model, tmp_path / "m")
    assert load_model(tmp_path / "m", max_params=model.num_params).num_params == model.num_params
    with pytest.raises(MatnetError, match=f"declares {model.num_params:,} parameters, more than the limit"):
        load_model(tmp_path / "m", max_params=model.num_params - 1)
