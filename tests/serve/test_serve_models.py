"""The served models and what the page draws of them: the layer table's wiring and shapes, gradient x input
against finite differences, array encodings, names, and many threads in one model at once."""

from __future__ import annotations

import base64
import sys
import threading

import numpy as np
import pytest

from matnet.errors import MatnetError
from matnet.architectures import build_mlp, build_resnet
from matnet.model import Sequential
from matnet.nn import Dense, Dropout, ReLU, Tanh
from matnet.serve import ServedModel, load_models
from matnet.serve.layers import attribution, dead_units, encode, explainable, layer_table
from matnet.serve.models import DEAD_SAMPLE


def test_layer_table_follows_trace_and_wires_residual_blocks():
    model = build_resnet()
    rows = layer_table(model)
    x = np.random.default_rng(0).random((1, 1, 28, 28), dtype=np.float32)
    traced = model.trace(x)
    assert [r["name"] for r in rows] == [layer.name for layer, _ in traced]
    for row, (_, out) in zip(rows, traced):
        assert tuple(row["output_shape"]) == out.shape[1:], row["name"]
    by_name = {r["name"]: r for r in rows}
    first, second = [r for r in rows if r["type"] == "Residual"]
    inside = [r for r in rows if r["inside"] == second["name"]]
    block_input = second["input"]
    assert inside[0]["input"] == block_input                          # F's first layer reads the block's input
    projection = next(r for r in inside if r["name"].startswith("conv2d") and r["config"]["kernel_size"] == 1)
    assert projection["input"] == block_input                         # so does the shortcut's projection
    assert second["adds"] == [inside[-2]["name"], projection["name"]]  # out = F(x) + projection(x)
    assert first["adds"][1] == first["input"]                          # an identity shortcut adds x itself
    assert by_name[rows[-1]["name"]]["type"] == "Dense" and rows[-1]["input"] == "globalavgpool_1"
    assert "layers" not in first["config"] and first["operation"] == "out = F(x) + shortcut(x)"


def numerical_attribution(model, x, target, h=1e-6):
    """x * d out[target] / dx by central differences, one pixel at a time (float64)."""
    flat = x.reshape(-1)
    grad = np.zeros_like(flat)
    for i in range(flat.size):
        up, down = flat.copy(), flat.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (model.forward(up.reshape(x.shape))[0, target]
                   - model.forward(down.reshape(x.shape))[0, target]) / (2 * h)
    return (flat * grad).reshape(x.shape)[0]


def test_attribution_is_gradient_times_input_from_the_backward_pass():
    model = Sequential([Dense(12, 7), Tanh(), Dropout(0.5), Dense(7, 3)], seed=3).astype(np.float64)
    x = np.random.default_rng(1).random((1, 12))
    for target in range(3):
        found = attribution(model, x, target)
        np.testing.assert_allclose(found, numerical_attribution(model, x, target), rtol=1e-6, atol=1e-9)


def test_attribution_only_reads_the_network():
    """Gradient x input runs on a private copy: the served network's settings, caches, gradients and parameters
    are as they were, also when the call fails."""
    model = Sequential([Dense(4, 3), Dropout(0.3), Dense(3, 2)], seed=0)
    before = model.parameters.values.copy()
    attribution(model, np.ones((1, 4), np.float32), target=1)
    with pytest.raises(IndexError):
        attribution(model, np.ones((1, 4), np.float32), target=5)
    assert model.layers[1].p == 0.3 and model.layers[0].input_grad is False
    assert all(layer._cache is None for layer in model.all_layers())
    assert not model.parameters.grads.any()
    np.testing.assert_array_equal(model.parameters.values, before)


def test_only_networks_without_batchnorm_are_explained(cnn_file):
    assert explainable(build_mlp([784, 16, 10]))
    cnn = ServedModel.open(cnn_file)
    assert not cnn.explainable
    with pytest.raises(ValueError, match="BatchNorm"):
        cnn.predict(np.zeros((28, 28), np.float32), explain=True)


def test_dead_units_are_zero_for_every_image_and_only_they(mnist, tmp_path):
    """dead_units: the units of a ReLU after a Dense layer that are 0 on every sample, counted over chunks; the
    served model finds them on the first DEAD_SAMPLE training images, and says which."""
    model = Sequential([Dense(784, 8), ReLU(), Dense(8, 10)], seed=3, preprocessing={"dataset": "mnist"})
    model.layers[0].params["b"][[2, 5]] = -1000                      # 2 and 5: dead on any image in [0, 1]
    model.layers[0].params["b"][6] = 1000                            # 6: fires on every image
    x = mnist.train_images[:DEAD_SAMPLE].reshape(-1, 784).astype(np.float32) / 255
    hidden = np.maximum(x @ model.layers[0].params["W"].T + model.layers[0].params["b"], 0)   # relu_1, by hand
    expected = np.flatnonzero((hidden <= 0).all(axis=0)).tolist()
    assert {2, 5} <= set(expected) and 6 not in expected
    assert dead_units(model, x, chunk=300) == {"relu_1": expected}    # 300: chunks that do not divide 1,000
    model.save(tmp_path / "dead")
    served = ServedModel.open(tmp_path / "dead.npz")
    assert served.describe(detail=True)["dead_units"] == {"images": DEAD_SAMPLE, "dataset": "mnist",
                                                          "units": {"relu_1": expected}}
    assert "dead_units" not in served.describe()


def test_encodings_round_trip():
    a = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(np.float32)
    packed = encode(a, "base64")
    assert packed["shape"] == [3, 4, 5] and packed["dtype"] == "<f4"
    np.testing.assert_array_equal(np.frombuffer(base64.b64decode(packed["base64"]), "<f4").reshape(3, 4, 5), a)
    listed = encode(a, "list")
    np.testing.assert_allclose(np.asarray(listed["data"]), a, atol=5e-7)


def test_names_are_unique_and_models_must_take_28x28(tiny_run, tmp_path):
    served = load_models([tiny_run, tiny_run, tiny_run / "best.npz"])
    assert [s.name for s in served] == ["tiny", "tiny-2", "best"]
    small = build_mlp([10, 4])
    small.save(tmp_path / "small")
    with pytest.raises(MatnetError, match="takes inputs of shape \\(10,\\)"):
        load_models([tmp_path / "small"])
    with pytest.raises(MatnetError, match="no run folder or model file"):
        load_models([tmp_path / "missing"])


@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_many_threads_in_one_model_get_their_own_answers(which, tiny_run, cnn_file, mnist):
    """Eight threads predicting at once on one network, with no lock (with every layer's output, and for the MLP
    gradient x input, whose backward pass needs the arrays its forward pass keeps), get exactly what one thread
    alone gets."""
    served = ServedModel.open(tiny_run if which == "mlp" else cnn_file)
    options = {"layers": True, "explain": served.explainable, "encoding": "base64"}
    images = [(mnist.test_images[k] / 255.0).astype(np.float32) for k in range(16)]
    alone = [served.predict(image, **options) for image in images]
    results, errors = {}, []

    def worker(k):
        try:
            for round_ in range(10):
                j = (k + round_) % len(images)
                results[k, round_] = (j, served.predict(images[j], **options))
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)       # switch threads as often as possible: shared state would show at once
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors
    assert len(results) == 80
    for j, result in results.values():
        assert result == alone[j]


def test_cheap_is_measured_not_guessed_from_the_kind(tiny_run):
    """A JSON request is answered on the event loop only for a network whose forward pass is measured fast: an MLP
    of thousands of ReLU layers has few parameters but would block the loop for every other request."""
    from matnet.nn import ReLU

    assert ServedModel.open(tiny_run).cheap
    deep = Sequential([Dense(784, 4)] + [ReLU() for _ in range(3000)] + [Dense(4, 10)], seed=0)
    assert not ServedModel("deep", deep).cheap
