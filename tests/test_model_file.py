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


# --- hostile model files: refused before anything is allocated, one clear line naming the file ------------------
import re  # noqa: E402
import zipfile  # noqa: E402

from matnet.cli.main import main  # noqa: E402
from matnet.model_file import MAX_JSON_BYTES, MAX_PARAMS  # noqa: E402
from matnet.model_file import load_model as load_model_file  # noqa: E402  (the model file itself, no run folder)
from support import bounded, snapshot_sizes  # noqa: E402


def edit_json(path, change):
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def npy_header(shape, descr="<f4"):
    """A .npy file's bytes up to its data: what a file declaring ``shape`` needs, with no data at all."""
    import io

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def huge_model(tmp_path, declared, npz_shape, layers=None):
    """A model file whose JSON declares ``declared`` (name -> shape) and whose weights file holds one header
    declaring ``npz_shape`` and no data."""
    meta = {"format": "matnet-model", "version": 1, "name": "huge", "input_shape": [100_000], "dtype": "float32",
            "layers": layers or [{"type": "Dense", "name": "dense_1",
                                  "config": {"in_features": 100_000, "out_features": 100_000}}],
            "classes": None, "preprocessing": {}, "parameters": declared}
    (tmp_path / "huge.json").write_text(json.dumps(meta))
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as z:
        z.writestr("dense_1.W.npy", npy_header(npz_shape))
    return tmp_path / "huge"


@pytest.mark.parametrize("setup,code,message", [
    (lambda t: huge_model(t, {"dense_1.W": [100_000, 100_000], "dense_1.b": [100_000]}, (100_000, 100_000)),
     "matnet.model_file.load_model('huge')",
     "huge.json: declares 10,000,100,000 parameters, more than the limit of 50,000,000"),
    (lambda t: huge_model(t, {"dense_1.W": [100_000, 100_000], "dense_1.b": [100_000]}, (100_000, 100_000)),
     "matnet.model_file.load_model('huge', max_params=10**11)",        # a user who trusts it: the data is not there
     "huge.npz: array dense_1.W: its header declares 100000x100000 float32 (40,000,000,000 bytes) but the archive "
     "holds 0 bytes of it"),
    (lambda t: huge_model(t, {"dense_1.W": [3, 2]}, (3, 2)),            # the entry lies small, the layers are huge
     "matnet.model_file.load_model('huge', max_params=10**11)",
     "huge.npz: array dense_1.W: its header declares 3x2 float32 (24 bytes) but the archive holds 0 bytes"),
])
def test_a_huge_model_file_allocates_nothing(tmp_path, setup, code, message):
    setup(tmp_path)
    before = snapshot_sizes(tmp_path)
    done = bounded(code, tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert message in done.stdout
    assert snapshot_sizes(tmp_path) == before


def test_layers_larger_than_the_parameters_entry_are_not_built(tmp_path):
    """Its weights match the entry; only its layer list would allocate 40 GB."""
    meta = {"format": "matnet-model", "version": 1, "name": "liar", "input_shape": [100_000], "dtype": "float32",
            "layers": [{"type": "Dense", "name": "dense_1", "config": {"in_features": 100_000,
                                                                        "out_features": 100_000}}],
            "parameters": {"dense_1.W": [3, 2]}}
    (tmp_path / "liar.json").write_text(json.dumps(meta))
    np.savez(tmp_path / "liar.npz", **{"dense_1.W": np.zeros((3, 2), np.float32)})
    done = bounded("matnet.model_file.load_model('liar', max_params=10**11)", tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.strip() == (f"MatnetError: {'liar.json'}: its layers would make 10,000,100,000 parameters or "
                                   f"more, but its 'parameters' entry declares 6")


def test_a_residual_projection_that_would_be_huge_is_not_built(tmp_path):
    """1 x 100,000 channels, then a block that halves the image: its 1x1 projection would take 10^10 weights."""
    layers = [{"type": "Conv2D", "name": "conv", "config": {"in_channels": 1, "out_channels": 100_000,
                                                            "kernel_size": 1}},
              {"type": "Residual", "name": "block", "config": {"layers": [{"type": "MaxPool2D", "config": {}}]}}]
    meta = {"format": "matnet-model", "version": 1, "name": "p", "input_shape": [1, 2, 2], "dtype": "float32",
            "layers": layers, "parameters": {"conv.W": [100_000, 1, 1, 1], "conv.b": [100_000]}}
    (tmp_path / "p.json").write_text(json.dumps(meta))
    np.savez(tmp_path / "p.npz", **{"conv.W": np.zeros((100_000, 1, 1, 1), np.float32),
                                    "conv.b": np.zeros(100_000, np.float32)})
    done = bounded("matnet.model_file.load_model('p', max_params=10**11)", tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "p.json: its layers would make 10,000,300,000 parameters or more, but its 'parameters' entry declares " \
           "200,000" in done.stdout


def test_a_zip_bomb_member_is_refused_before_it_is_read(model, tmp_path):
    save_model(model, tmp_path / "m")
    arrays = dict(np.load(tmp_path / "m.npz"))
    with zipfile.ZipFile(tmp_path / "m.npz", "w", zipfile.ZIP_DEFLATED) as z:
        for name, array in arrays.items():
            with z.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array)
                if name == "dense_1.W":
                    for _ in range(8):
                        member.write(bytes(2**20))                    # 8 MB of zeros after the 30 values
    with pytest.raises(MatnetError, match=re.escape(f"{tmp_path / 'm.npz'}: array dense_1.W: its header declares 5x6 "
                                                    f"float32 (120 bytes) but the archive holds 8,388,728 bytes")):
        load_model(tmp_path / "m")


@pytest.mark.parametrize("edit,message", [
    (lambda m: m.pop("parameters"), "no 'parameters' entry"),
    (lambda m: m["parameters"].update({"dense_1.W": [5, "6"]}), "invalid 'parameters' entry"),
    (lambda m: m.update(dtype="int32"), r"dtype int32 is not a floating-point type \(float16, float32, float64\)"),
    (lambda m: m.update(dtype="complex128"), "dtype complex128 is not a floating-point type"),
    (lambda m: m.update(dtype="no such type"), "invalid dtype 'no such type'"),
    (lambda m: m.update(classes=["a", "b"]), r"2 class name\(s\) for 3 outputs; each output needs exactly one"),
    (lambda m: m.update(classes=["a", "b", "c", "d"]), r"4 class name\(s\) for 3 outputs"),
    (lambda m: m.update(classes=[1, 2, 3]), "'classes' must be a list of names"),
    (lambda m: m["layers"][0].update(name="first"), r"the layers make parameters the 'parameters' entry does not "
                                                    r"declare \(first differences: dense_1.W"),
    (lambda m: m["layers"][0]["config"].update(in_features=1e300), r"its layers would make 5.0e\+300 "
                                                                       r"parameters or more, but its 'parameters' "
                                                                       r"entry declares 106"),
    # beyond a float's range: once 'internal error: OverflowError: int too large to convert to float'
    (lambda m: m["layers"][0]["config"].update(out_features=1e308), r"its layers would make 7.0e\+308 "
                                                                        r"parameters or more"),
    (lambda m: m["layers"][0]["config"].update(in_features=1e308, out_features=1e308), r"its layers would make "
                                                                                      r"1.0e\+616 parameters"),
    (lambda m: m["layers"][0]["config"].update(in_features="6"), "invalid architecture"),
    (lambda m: m.update(preprocessing=[1]), "'preprocessing' must be an object"),
])
def test_a_description_that_disagrees_or_lies(model, tmp_path, edit, message):
    save_model(model, tmp_path / "m")
    edit_json(tmp_path / "m.json", edit)
    with pytest.raises(MatnetError, match=f"{re.escape(str(tmp_path / 'm.json'))}: {message}"):
        load_model(tmp_path / "m")


@pytest.mark.parametrize("change,message", [
    (lambda d: d["dense_1.W"].__setitem__((0, 0), np.nan), r"array dense_1.W holds 1 non-finite value\(s\)"),
    (lambda d: d["dense_3.b"].__setitem__(slice(None), np.inf), r"array dense_3.b holds 4 non-finite value\(s\)"),
    (lambda d: d.update({"dense_1.W": np.zeros((5, 6), np.int64)}), "array dense_1.W holds int64 values, not "
                                                                    "floating-point weights"),
    (lambda d: d.update({"dense_1.W": np.zeros((5, 6), np.complex64)}), "array dense_1.W holds complex64 values"),
    (lambda d: d.update({"dense_1.W": np.array([[None] * 6] * 5)}), "array dense_1.W holds Python objects"),
])
def test_weights_that_are_not_finite_floats(model, tmp_path, change, message):
    save_model(model, tmp_path / "m")
    data = dict(np.load(tmp_path / "m.npz"))
    change(data)
    np.savez(tmp_path / "m.npz", **data)
    with pytest.raises(MatnetError, match=f"{re.escape(str(tmp_path / 'm.npz'))}: {message}"):
        load_model(tmp_path / "m")


def test_a_member_that_is_not_an_array(model, tmp_path):
    save_model(model, tmp_path / "m")
    with zipfile.ZipFile(tmp_path / "m.npz", "a") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(MatnetError, match="m.npz: member 'readme.txt' is not one of its arrays"):
        load_model(tmp_path / "m")


def test_an_oversized_or_deeply_nested_description(model, tmp_path):
    save_model(model, tmp_path / "m")
    (tmp_path / "m.json").write_bytes(b" " * (MAX_JSON_BYTES + 1))
    with pytest.raises(MatnetError, match=f"m.json: more than {MAX_JSON_BYTES:,} bytes, far more than a model "
                                          f"description takes; not reading it"):
        load_model(tmp_path / "m")
    (tmp_path / "m.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(MatnetError, match="m.json: not a readable model description"):
        load_model(tmp_path / "m")


def test_the_parameter_limit_can_be_raised_or_lowered(model, tmp_path, monkeypatch):
    save_model(model, tmp_path / "m")
    assert model.num_params < MAX_PARAMS
    with pytest.raises(MatnetError, match=f"declares {model.num_params} parameters, more than the limit of 10 .*"
                                          "max_params=.*MATNET_MAX_PARAMS"):
        load_model_file(tmp_path / "m", max_params=10)
    monkeypatch.setenv("MATNET_MAX_PARAMS", "10")
    with pytest.raises(MatnetError, match="more than the limit of 10 "):
        load_model_file(tmp_path / "m")
    assert load_model_file(tmp_path / "m", max_params=model.num_params).num_params == model.num_params
    monkeypatch.setenv("MATNET_MAX_PARAMS", "lots")
    with pytest.raises(MatnetError, match="MATNET_MAX_PARAMS='lots': expected a whole number"):
        load_model_file(tmp_path / "m")


def test_the_command_line_says_it_in_one_line(model, tmp_path, capsys):
    save_model(model, tmp_path / "m")
    edit_json(tmp_path / "m.json", lambda m: m["parameters"].update({"dense_1.W": [50_000, 50_000]}))
    assert main(["info", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"matnet: error: {tmp_path / 'm.json'}: declares 2,500,000,") and "limit of 50,000,000" in err


def test_a_conv_saved_before_the_bias_option_loads_with_its_bias(tmp_path, rng):
    """Model files written before Conv2D had ``bias`` have no such key: their convolutions keep their b."""
    from matnet.nn import Flatten
    from matnet.nn.conv import Conv2D

    model = Sequential([Conv2D(1, 2, 3), Flatten(), Dense(8, 2)], input_shape=(1, 4, 4), seed=1)
    model.layers[0].params["b"][...] = [0.5, -0.25]
    save_model(model, tmp_path / "m")
    meta = json.loads((tmp_path / "m.json").read_text())
    conv = next(spec for spec in meta["layers"] if spec["type"] == "Conv2D")
    assert conv["config"].pop("bias") is True
    (tmp_path / "m.json").write_text(json.dumps(meta))
    back = load_model(tmp_path / "m")
    assert back.layers[0].bias and back.num_params == model.num_params
    x = rng.standard_normal((3, 1, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(back.predict_proba(x), model.predict_proba(x))


@pytest.mark.parametrize("what", ["negative variance", "eps 0", "eps -1", "eps nan"])
def test_a_batchnorm_that_training_cannot_make_is_refused_at_load(tmp_path, capsys, what):
    """A running variance below 0, or eps <= 0 (or NaN): sqrt(var + eps) is then NaN or a division by 0, so the
    model would answer NaN. Refused when the file is read, in one line, not blamed on the weights later."""
    from matnet.architectures import build_cnn

    model = build_cnn(filters=(4,), dense=8, seed=1, preprocessing={"dataset": "mnist"})
    model.save(tmp_path / "bn")
    if what == "negative variance":
        name = next(key for key in model.buffers() if key.endswith("running_var"))
        rewrite(tmp_path / "bn.npz", lambda arrays: arrays[name].__setitem__(0, -2.0))
        message = f"array {name} holds 1 negative variance"
    else:
        value = {"eps 0": 0, "eps -1": -1, "eps nan": float("nan")}[what]

        def change(meta):
            for spec in meta["layers"]:
                if spec["type"] == "BatchNorm":
                    spec["config"]["eps"] = value
        edit_json(tmp_path / "bn.json", change)
        message = "eps must be a positive number"
    with pytest.raises(MatnetError, match=re.escape(message)):
        load_model(tmp_path / "bn")
    assert main(["predict", str(tmp_path / "bn"), "--json", str(tmp_path / "none.png")]) == 1
    assert message in capsys.readouterr().out


def test_a_class_name_a_megabyte_long_is_refused(model, tmp_path):
    """Every prediction repeats the class names: ten of 1 MB each would make every answer of the server 10 MB."""
    save_model(model, tmp_path / "m")
    others = [str(k) for k in range(1, model.output_shapes[-1][0])]
    edit_json(tmp_path / "m.json", lambda meta: meta.update(classes=["x" * 2**20] + others))
    with pytest.raises(MatnetError, match="a class name of 1,048,576 characters; a name may have at most 100"):
        load_model(tmp_path / "m")
    edit_json(tmp_path / "m.json", lambda meta: meta.update(classes=["y" * 100] + others))
    assert load_model(tmp_path / "m").classes[0] == "y" * 100


def test_the_loss_is_recorded_and_says_what_the_outputs_mean(tmp_path, rng):
    """A network trained under MSE keeps its loss in the file, so a loaded one evaluates under MSE and reports
    normalised scores; a file without the entry (written before it) is cross-entropy; another value is refused."""
    from matnet.architectures import build_mlp
    model = build_mlp([6, 4, 3], "sigmoid", init="normal", output="sigmoid", loss="mse", seed=2)
    save_model(model, tmp_path / "m")
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["loss"] == "mse"
    back = load_model(tmp_path / "m")
    assert back.loss == "mse" and back.outputs_scores and back.layers[0].init == "normal"
    x = rng.standard_normal((5, 6)).astype(np.float32)
    np.testing.assert_array_equal(back.predict_proba(x), model.predict_proba(x))
    np.testing.assert_allclose(back.predict_proba(x).sum(axis=1), 1, rtol=1e-6)
    y = rng.integers(0, 3, 5)
    assert back.evaluate(x, y, verbose=0)["loss"] == pytest.approx(np.mean((back.forward(x) - np.eye(3)[y]) ** 2))
    del meta["loss"]
    (tmp_path / "m.json").write_text(json.dumps(meta))
    assert load_model(tmp_path / "m").loss == "cross-entropy"
    meta["loss"] = "hinge"
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(MatnetError, match=r"m.json: 'loss' must be one of cross-entropy, mse, got 'hinge'"):
        load_model(tmp_path / "m")
