"""The Python API as a Keras user meets it: what fit / evaluate / predict accept and refuse (one clear error naming
the argument), what they print for each ``verbose``, saving and loading, ``from matnet import ...``, and
``python -m matnet`` / ``matnet -V``."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from contextlib import redirect_stderr
from pathlib import Path

import numpy as np
import pytest

import matnet
from matnet import (Adam, BatchNorm, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Sequential, build_cnn, build_mlp,
                    load, save_model)
from matnet.nn.inputs import as_batch


def digits(n: int, seed: int = 0, classes: int = 10):
    """n images (N, 28, 28) float32 in [0, 1] whose class is their mean brightness, and their labels (N,)."""
    gen = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = gen.uniform(0, 0.2, (n, 28, 28)) + (y / classes * 0.8)[:, None, None]
    return x.astype(np.float32), y


@pytest.fixture(scope="module")
def mlp():
    return build_mlp([784, 16, 10], seed=0)


@pytest.fixture(scope="module")
def cnn():
    return build_cnn(filters=(4,), dense=8, seed=0)


def fit_quietly(model, x, y, **kwargs):
    return model.fit(x, y, epochs=1, batch_size=32, verbose=0, **kwargs)


# --- bad inputs: one error, naming the argument, what was expected and what was given ----------------------------
X, Y = digits(8)
FLAT = X.reshape(8, 784)

BAD_FIT = [
    ("float labels with fractions", FLAT, np.full(8, 0.5), ValueError,
     "y: expected class indices in [0, 10), got 0.5 at index 0 (float labels are accepted only with whole values)"),
    ("a label of 12", FLAT, np.array([0, 1, 2, 12, 4, 5, 6, 7]), ValueError,
     "y: expected class indices in [0, 10) (the network has 10 outputs), got 12 at index 3"),
    ("a negative label", FLAT, np.array([0, 1, 2, 3, 4, 5, 6, -1]), ValueError,
     "y: expected class indices in [0, 10) (the network has 10 outputs), got -1 at index 7"),
    ("a NaN label", FLAT, np.array([0, 1, np.nan, 3, 4, 5, 6, 7]), ValueError,
     "y: expected class indices in [0, 10), got nan at index 2 (float labels are accepted only with whole values)"),
    ("string labels", FLAT, np.array(list("01234567")), TypeError,
     "y: expected class labels as an array of numbers, got ndarray of dtype <U1"),
    ("boolean labels", FLAT, np.ones(8, bool), TypeError,
     "y: expected class indices in [0, 10) as integers, got booleans"),
    ("no labels", FLAT, None, TypeError, "y: expected class labels as an array of numbers, got None"),
    ("fewer labels than images", FLAT, Y[:7], ValueError,
     "y: 7 label(s) for 8 sample(s) in x; each sample needs exactly one"),
    ("target rows of the wrong width", FLAT, np.eye(5, dtype=np.float32)[Y % 5], ValueError,
     "y: target rows need one column per class, shape (N, 10); got shape (8, 5)"),
    ("labels of three dimensions", FLAT, np.zeros((8, 2, 2), int), ValueError,
     "y: expected class indices of shape (N,) or target rows (N, 10), got shape (8, 2, 2)"),
    ("a NaN pixel", np.where(np.arange(784) == 5, np.nan, FLAT), Y, ValueError,
     "x: expected finite numbers, got NaN or infinite values in 8 sample(s), the first at index 0; clean or drop "
     "them"),
    ("an infinite pixel", np.concatenate([FLAT[:2], np.full((1, 784), np.inf, np.float32), FLAT[3:]]), Y, ValueError,
     "x: expected finite numbers, got NaN or infinite values in 1 sample(s), the first at index 2; clean or drop "
     "them"),
    ("images of the wrong size", np.zeros((8, 27, 27), np.float32), Y, ValueError,
     "x: the network takes a batch of shape (N, 784) (or any (N, ...) with 784 values per sample, e.g. "
     "(N, 28, 28), flattened), or a single sample of 784 values; got shape (8, 27, 27)"),
    ("string images", np.array([["a"] * 784] * 8), Y, TypeError,
     "x: expected inputs as an array of numbers, got ndarray of dtype <U1"),
    ("ragged images", [[0.0] * 784, [0.0] * 783], Y[:2], TypeError,
     "x: expected inputs as an array of numbers, got list that is not one"),
    ("no images", np.zeros((0, 784), np.float32), Y[:0], ValueError, "x: no samples (shape (0, 784))"),
]


@pytest.mark.parametrize("case, x, y, error, message", BAD_FIT, ids=[case[0] for case in BAD_FIT])
def test_fit_and_evaluate_refuse_bad_data_with_one_clear_message(mlp, case, x, y, error, message):
    for call in (lambda: fit_quietly(mlp, x, y), lambda: mlp.evaluate(x, y, verbose=0)):
        with pytest.raises(error) as caught:
            call()
        assert str(caught.value).startswith(message), str(caught.value)


@pytest.mark.parametrize("validation_data, error, message", [
    ((FLAT, Y, None), TypeError, "validation_data: expected a pair (x_val, y_val), got a tuple of 3"),
    (FLAT, TypeError, "validation_data: expected a pair (x_val, y_val), got ndarray"),
    ((FLAT, Y + 10), ValueError, "validation_data[1]: expected class indices in [0, 10) (the network has 10 "
                                 "outputs), got 10 at index 0"),
    ((FLAT[:, :700], Y), ValueError, "validation_data[0]: the network takes a batch of shape (N, 784)"),
    ((FLAT, Y[:3]), ValueError, "validation_data[1]: 3 label(s) for 8 sample(s) in validation_data[0]"),
])
def test_validation_data_is_checked_the_same_way(mlp, validation_data, error, message):
    with pytest.raises(error) as caught:
        fit_quietly(mlp, FLAT, Y, validation_data=validation_data)
    assert str(caught.value).startswith(message), str(caught.value)


@pytest.mark.parametrize("x, message", [
    (np.full(784, np.nan, np.float32), "x: expected finite numbers, got NaN or infinite values in 1 sample(s)"),
    (np.zeros((2, 100)), "x: the network takes a batch of shape (N, 784)"),
    (np.zeros(785), "x: the network takes a batch of shape (N, 784)"),
])
def test_predict_refuses_bad_inputs(mlp, x, message):
    for call in (mlp.predict, mlp.predict_proba):
        with pytest.raises(ValueError) as caught:
            call(x)
        assert str(caught.value).startswith(message), str(caught.value)


def test_a_cnn_names_the_layouts_it_takes(cnn):
    with pytest.raises(ValueError, match=re.escape(
            "x: the network takes a batch of shape (N, 1, 28, 28) (or (N, 28, 28) or flat rows (N, 784)), or a "
            "single sample of shape (1, 28, 28); got shape (2, 3, 28, 28)")):
        cnn.predict(np.zeros((2, 3, 28, 28), np.float32))


@pytest.mark.parametrize("kwargs, message", [
    ({"verbose": 3}, "verbose: expected 0 (silent), 1 (progress bar and one line per epoch) or 2 (one line per "
                     "epoch), got 3"),
    ({"verbose": "yes"}, "verbose: expected 0 (silent)"),
    ({"batch_size": 0}, "batch_size: expected a whole number >= 1, got 0"),
    ({"batch_size": 2.5}, "batch_size: expected a whole number >= 1, got 2.5"),
])
def test_predict_and_evaluate_check_their_options(mlp, kwargs, message):
    for call in (lambda: mlp.predict(FLAT, **kwargs), lambda: mlp.evaluate(FLAT, Y, **kwargs)):
        with pytest.raises(ValueError) as caught:
            call()
        assert str(caught.value).startswith(message), str(caught.value)
    if "verbose" in kwargs:
        with pytest.raises(ValueError, match="verbose: expected"):
            mlp.fit(FLAT, Y, epochs=1, **kwargs)


# --- what is accepted ---------------------------------------------------------------------------------------------
def test_float_labels_with_whole_values_are_accepted():
    model = build_mlp([784, 16, 10], seed=0)
    fit_quietly(model, FLAT, Y.astype(np.float64))
    as_float = model.parameters.values.copy()
    model = build_mlp([784, 16, 10], seed=0)
    fit_quietly(model, FLAT, Y)
    np.testing.assert_array_equal(model.parameters.values, as_float)
    assert model.evaluate(FLAT, Y.astype(np.float32), verbose=0) == model.evaluate(FLAT, Y, verbose=0)
    assert model.evaluate(FLAT, Y[:, None], verbose=0) == model.evaluate(FLAT, Y, verbose=0)  # a column of labels


@pytest.mark.parametrize("single", [(784,), (28, 28), (1, 28, 28), (28, 28, 1)])
@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_one_image_is_a_batch_of_one(request, which, single):
    model = request.getfixturevalue(which)
    image = X[3].reshape(single)
    expected = model.predict_proba(X[3:4].reshape(1, *model.input_shape))
    np.testing.assert_array_equal(model.predict_proba(image), expected)
    assert model.predict(image).shape == (1,)


@pytest.mark.parametrize("layout", [(784,), (28, 28), (1, 28, 28), (28, 28, 1)])
@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_a_batch_in_another_layout_is_reshaped(request, which, layout):
    model = request.getfixturevalue(which)
    expected = model.predict_proba(X.reshape(len(X), *model.input_shape))
    np.testing.assert_array_equal(model.predict_proba(X.reshape(len(X), *layout)), expected)
    assert model.evaluate(X.reshape(len(X), *layout), Y, verbose=0) == \
        model.evaluate(X.reshape(len(X), *model.input_shape), Y, verbose=0)


def test_a_loaded_digit_goes_straight_into_predict(tmp_path, mlp, cnn):
    from PIL import Image

    from matnet.data.images import load_digit

    page = np.full((60, 60), 255, np.uint8)
    page[10:50, 27:33] = 0                      # a dark "1" on white paper
    Image.fromarray(page).save(tmp_path / "one.png")
    image = load_digit(tmp_path / "one.png")
    assert image.shape == (28, 28)
    for model in (mlp, cnn):
        assert model.predict(image).shape == (1,) and model.predict_proba(image).shape == (1, 10)


def test_big_float32_data_is_not_copied(cnn, monkeypatch):
    """A reshape view for flat rows; float64 is converted once (a copy), never more."""
    assert np.shares_memory(as_batch(FLAT, cnn.input_shape, np.float32), FLAT)
    assert np.shares_memory(as_batch(X, (784,), np.float32), X)
    assert not np.shares_memory(as_batch(FLAT.astype(np.float64), (784,), np.float32), FLAT)
    seen = {}
    original = matnet.model.Trainer.fit

    def spy(trainer, x, y, validation_data=None):
        seen.update(x=x, y=y, val=validation_data)
        return original(trainer, x, y, validation_data)

    monkeypatch.setattr(matnet.model.Trainer, "fit", spy)
    model = build_cnn(filters=(4,), dense=8, seed=0)
    fit_quietly(model, FLAT, Y, validation_data=(FLAT, Y))
    assert seen["x"].shape == (8, 1, 28, 28) and np.shares_memory(seen["x"], FLAT)
    assert seen["y"] is Y or np.shares_memory(seen["y"], Y)
    assert np.shares_memory(seen["val"][0], FLAT)


# --- what each verbose prints ---------------------------------------------------------------------------------------
class Terminal(io.StringIO):
    """A stderr that says it is a terminal, so that tqdm draws its bar (``disable=None``) into it. Set in the test
    itself (``redirect_stderr``): pytest puts its own capture back in place after the fixtures are set up."""

    def isatty(self):
        return True


EPOCH_LINE = re.compile(r"^epoch 1/2  loss \d\.\d{4}  acc \d+\.\d\d%  val_loss \d\.\d{4}  val_acc \d+\.\d\d%  "
                        r"lr 1\.00e-03  \d+\.\ds  ~\d+s left$")


@pytest.mark.parametrize("verbose, lines, bar", [(0, 0, False), (1, 2, True), (2, 2, False)])
def test_verbose_as_in_keras(capsys, verbose, lines, bar):
    model = build_mlp([784, 16, 10], seed=0)
    x, y = digits(64)
    with redirect_stderr(Terminal()) as terminal:
        model.fit(x, y, epochs=2, batch_size=16, validation_data=(x, y), verbose=verbose)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == lines
    if lines:
        assert EPOCH_LINE.match(out[0]), out[0]
        assert out[1].startswith("epoch 2/2  loss ")
    assert ("epoch 1/2:   0%|" in terminal.getvalue() and "0/4 [" in terminal.getvalue()) == bar, terminal.getvalue()


def test_fit_prints_epoch_lines_by_default_even_without_a_terminal(capsys):
    model = build_mlp([784, 16, 10], seed=0)
    model.fit(*digits(32), epochs=2, batch_size=16)
    captured = capsys.readouterr()
    assert [line[:10] for line in captured.out.splitlines()] == ["epoch 1/2 ", "epoch 2/2 "]
    assert captured.err == ""                   # not a terminal: no bar in the logs


def test_evaluate_and_predict_verbose(capsys, mlp):
    x, y = digits(12)
    with redirect_stderr(Terminal()) as terminal:
        evaluate_and_predict_verbose(capsys, terminal, mlp, x, y)


def evaluate_and_predict_verbose(capsys, terminal, mlp, x, y):
    result = mlp.evaluate(x, y)                 # verbose=1 by default: one line (and a bar over > 10 batches)
    out = capsys.readouterr().out
    assert out == f"evaluate  loss {result['loss']:.4f}  accuracy {100 * result['accuracy']:.2f}%  (12 samples)\n"
    mlp.evaluate(x, y, verbose=0), mlp.predict(x), mlp.predict_proba(x)
    assert capsys.readouterr().out == "" and terminal.getvalue() == ""     # predict is quiet by default
    mlp.predict(x, batch_size=2, verbose=1)     # 6 batches: too few for a bar
    assert terminal.getvalue() == ""
    mlp.evaluate(x, y, batch_size=1, verbose=1)  # 12 batches: a bar
    assert terminal.getvalue().startswith("\revaluate:   0%|          | 0/12 [")
    terminal.seek(0), terminal.truncate()
    mlp.predict(x, batch_size=1, verbose=1)
    assert terminal.getvalue().startswith("\rpredict:   0%|          | 0/12 [")


# --- save and load ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_save_and_load_round_trip(tmp_path, which):
    model = build_mlp([784, 16, 10], seed=1) if which == "mlp" else build_cnn(filters=(4,), dense=8, seed=1)
    fit_quietly(model, *digits(64))             # BatchNorm's running statistics move away from their start
    paths = model.save(tmp_path / "digits")
    assert paths == (tmp_path / "digits.npz", tmp_path / "digits.json") and all(p.is_file() for p in paths)
    for name in ("digits", "digits.npz", "digits.json"):
        back = load(tmp_path / name)
        assert type(back) is Sequential and back.input_shape == model.input_shape
        np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))
    assert save_model(model, tmp_path / "again") == (tmp_path / "again.npz", tmp_path / "again.json")
    assert (tmp_path / "again.json").read_text() == (tmp_path / "digits.json").read_text()
    assert matnet.load is matnet.load_model


# --- from matnet import ... -------------------------------------------------------------------------------------
def test_a_cnn_from_the_front_door_trains_on_flat_rows():
    model = Sequential([Conv2D(1, 4, 3, padding=1), BatchNorm(4), ReLU(), MaxPool2D(2), Flatten(),
                        Dense(4 * 14 * 14, 10)], input_shape=(1, 28, 28), seed=0)
    x, y = digits(128)
    history = model.fit(x.reshape(128, 784), y, epochs=3, batch_size=32, optimizer=Adam(3e-3), verbose=0)
    assert history["loss"][-1] < history["loss"][0]
    assert model.predict(x.reshape(128, 784)).shape == (128,)


def test_the_front_door_exports_what_the_readme_uses():
    names = ["AvgPool2D", "BatchNorm", "Callback", "Conv2D", "Dense", "Dropout", "EarlyStopping", "Flatten",
             "GlobalAvgPool", "MaxPool2D", "MeanSquaredError", "Momentum", "ReLU", "Residual", "Schedule",
             "SoftmaxCrossEntropy", "Trainer", "build_cnn", "build_mlp", "build_resnet", "load", "load_model",
             "make_schedule", "save_model"]
    assert set(names) <= set(matnet.__all__)
    assert all(hasattr(matnet, name) for name in matnet.__all__)
    assert len(set(matnet.__all__)) == len(matnet.__all__)


# --- python -m matnet, matnet -V ------------------------------------------------------------------------------------
def test_python_dash_m_matnet_and_the_short_version_flag(capsys):
    done = subprocess.run([sys.executable, "-m", "matnet", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "matnet train --out runs/x" in done.stdout, done.stderr
    script = Path(sys.executable).with_name("matnet")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "matnet"]
    done = subprocess.run([*command, "-V"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == f"matnet, version {matnet.__version__}\n", done.stderr
    from matnet.cli.main import main

    assert main(["--version"]) == 0 and capsys.readouterr().out == f"matnet, version {matnet.__version__}\n"
