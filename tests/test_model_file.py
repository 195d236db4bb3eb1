import json

import numpy as np
import pytest

from matnet import Sequential, load_model, save_model
from matnet.errors import MatnetError
from matnet.nn import Dense, Dropout, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh


@pytest.fixture
def model():
    return Sequential([Dense(6, 5, init="xavier_uniform"), ReLU(), Dense(5, 4), LeakyReLU(0.2), Dropout(0.3),
                       Dense(4, 4), Tanh(), Dense(4, 3), Sigmoid(), Dense(3, 3), Softmax()],
                      seed=4, classes=("a", "b", "c"), preprocessing={"scale": "pixel / 255"})


def test_round_trip_every_layer_type(model, tmp_path, rng):
    npz, meta = save_model(model, tmp_path / "m")
    assert npz.name == "m.npz" and meta.name == "m.json"
    back = load_model(tmp_path / "m")
    assert [type(a) for a in back.layers] == [type(b) for b in model.layers]
    assert back.layers[3].alpha == 0.2 and back.layers[4].p == 0.3 and back.layers[0].init == "xavier_uniform"
    assert back.classes == ("a", "b", "c") and back.preprocessing == {"scale": "pixel / 255"}
    np.testing.assert_array_equal(back.parameters.values, model.parameters.values)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    np.testing.assert_array_equal(back.predict_proba(x), model.predict_proba(x))
    assert str(back) == str(model)
    assert load_model(tmp_path / "m.json").num_params == model.num_params


def rewrite(path, change):
    data = dict(np.load(path, allow_pickle=False))
    change(data)
    np.savez(path, **data)


@pytest.mark.parametrize("change,message", [
    (lambda d: d.pop("dense_2.W"), "missing array.*dense_2.W"),
    (lambda d: d.update(extra=np.zeros(2)), "unexpected array.*extra"),
    (lambda d: d.update({"dense_1.b": np.zeros(7, np.float32)}), r"dense_1.b has shape \(7,\).*needs \(5,\)"),
])
def test_broken_weights(model, tmp_path, change, message):
    save_model(model, tmp_path / "m")
    rewrite(tmp_path / "m.npz", change)
    with pytest.raises(MatnetError, match=message):
        load_model(tmp_path / "m")


def test_truncated_weights(model, tmp_path):
    save_model(model, tmp_path / "m")
    data = (tmp_path / "m.npz").read_bytes()
    (tmp_path / "m.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(MatnetError, match="damaged weights file"):
        load_model(tmp_path / "m")


@pytest.mark.parametrize("edit,message", [
    (lambda m: m.update(version=99), "format version 99"),
    (lambda m: m.update(format="other"), "not a matnet model"),
    (lambda m: m["layers"][0].update(type="Conv9D"), "unknown or incomplete layer"),
])
def test_broken_architecture(model, tmp_path, edit, message):
    save_model(model, tmp_path / "m")
    meta = json.loads((tmp_path / "m.json").read_text())
    edit(meta)
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(MatnetError, match=message):
        load_model(tmp_path / "m")


def test_missing_and_unparsable(tmp_path, model):
    with pytest.raises(MatnetError, match="nothing: no run folder or model file of that name"):
        load_model(tmp_path / "nothing")
    with pytest.raises(MatnetError, match="a folder with no model in it"):
        load_model(tmp_path)
    save_model(model, tmp_path / "m")
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(MatnetError, match="not a readable model description"):
        load_model(tmp_path / "m")
