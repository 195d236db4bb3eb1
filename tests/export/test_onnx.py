"""matnet export --format onnx: onnxruntime runs the exported MLP, cnn and resnet on 1,000 real MNIST test images and
agrees with matnet on every class and every probability (within 1e-5)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from export_support import inputs, matnet, one_error_line, saved
from matnet import Sequential
from matnet.errors import MatnetError
from matnet.export import export_onnx, to_onnx
from matnet.nn import (AvgPool2D, BatchNorm, Conv2D, Dense, Dropout, Flatten, GlobalAvgPool, LeakyReLU, ReLU,
                       Sigmoid, Softmax, Tanh)

onnx = pytest.importorskip("onnx", reason="pip install onnx (the dev extra has it)")
ort = pytest.importorskip("onnxruntime", reason="pip install onnxruntime (the dev extra has it)")


def run_onnx(path_or_bytes, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(path_or_bytes, providers=["CPUExecutionProvider"])
    return session.run(["probabilities"], {"image": x})[0]


def agree(model, probabilities: np.ndarray, x: np.ndarray) -> None:
    expected = model.predict_proba(x)
    assert probabilities.shape == expected.shape
    np.testing.assert_array_equal(probabilities.argmax(axis=1), expected.argmax(axis=1))
    np.testing.assert_allclose(probabilities, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["mlp", "cnn", "fastcnn", "resnet"])
def test_onnxruntime_agrees_with_matnet(name, request, images, tmp_path, capsys):
    model = request.getfixturevalue(name)
    out = tmp_path / f"{name}.onnx"
    code, stdout, err = matnet(capsys, "export", saved(model, tmp_path / "m"), "--format", "onnx", "-o", str(out))
    assert code == 0 and f"wrote {out}" in stdout, err
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto, full_check=True)

    (image,), (probabilities,) = proto.graph.input, proto.graph.output
    assert (image.name, probabilities.name) == ("image", "probabilities")
    dims = image.type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and [d.dim_value for d in dims[1:]] == list(model.input_shape)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["classes"]) == list(model.classes)
    assert json.loads(meta["preprocessing"]) == model.preprocessing

    ops = {node.op_type for node in proto.graph.node}
    assert "Dropout" not in ops and "Softmax" in ops
    if name != "mlp":
        assert {"Conv", "MaxPool"} <= ops and ("BatchNormalization" in ops) == (name != "fastcnn")
    if name == "resnet":
        assert {"Add", "GlobalAveragePool"} <= ops

    x = inputs(model, images)
    agree(model, run_onnx(str(out), x), x)
    agree(model, run_onnx(str(out), x[:1]), x[:1])            # the batch dimension is free


def test_dense_is_gemm_with_w_transposed(mlp):
    gemms = [node for node in to_onnx(mlp).graph.node if node.op_type == "Gemm"]
    assert len(gemms) == 3
    assert all({a.name: a.i for a in node.attribute}.get("transB") == 1 for node in gemms)


def test_every_other_layer(images, rng):
    """LeakyReLU, Sigmoid, Tanh, AvgPool2D, a strided unpadded Conv2D, BatchNorm on dense activations, GlobalAvgPool
    and a model that ends in its own Softmax (no second one)."""
    from export_support import randomize_batchnorm

    conv = Sequential([Conv2D(1, 6, 3, stride=2), LeakyReLU(0.1), AvgPool2D(2), Flatten(), Dense(216, 32),
                       BatchNorm(32), Tanh(), Dropout(0.3), Dense(32, 16), Sigmoid(), Dense(16, 10), Softmax()],
                      input_shape=(1, 28, 28), seed=4)
    randomize_batchnorm(conv, seed=4)
    pooled = Sequential([Conv2D(1, 8, 5, padding=2), ReLU(), GlobalAvgPool(), Dense(8, 10)], input_shape=(1, 28, 28),
                        seed=5)
    for model in (conv, pooled):
        proto = to_onnx(model)
        x = inputs(model, images[:200])
        agree(model, run_onnx(proto.SerializeToString(), x), x)
    assert [n.op_type for n in to_onnx(conv).graph.node][-2:] == ["Softmax", "Identity"]


def test_existing_file_needs_force(mlp, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    out.write_text("mine")
    model = saved(mlp, tmp_path / "m")
    one_error_line(matnet(capsys, "export", model, "--format", "onnx", "-o", str(out)), 1, str(out), "--force")
    assert out.read_text() == "mine"
    code, _, err = matnet(capsys, "export", model, "--format", "onnx", "-o", str(out), "--force")
    assert code == 0, err
    onnx.checker.check_model(onnx.load(str(out)), full_check=True)


def test_missing_output_folder_is_an_error(mlp, tmp_path, capsys):
    out = tmp_path / "no" / "such" / "model.onnx"
    one_error_line(matnet(capsys, "export", saved(mlp, tmp_path / "m"), "--format", "onnx", "-o", str(out)), 1,
                   "does not exist")
    assert not (tmp_path / "no").exists()


def test_without_onnx_one_clear_line(mlp, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)          # `import onnx` now raises ImportError
    with pytest.raises(MatnetError, match="pip install onnx"):
        export_onnx(mlp, tmp_path / "x.onnx")
    one_error_line(matnet(capsys, "export", saved(mlp, tmp_path / "m"), "--format", "onnx", "-o",
                          str(tmp_path / "x.onnx")), 1, "pip install onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_json_output(mlp, tmp_path, capsys):
    code, out, _ = matnet(capsys, "export", saved(mlp, tmp_path / "m"), "--format", "onnx", "-o",
                          str(tmp_path / "m.onnx"), "--json")
    assert code == 0 and json.loads(out) == {"format": "onnx", "files": [str(tmp_path / "m.onnx")]}
