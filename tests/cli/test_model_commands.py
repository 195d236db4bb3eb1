"""evaluate, predict and info, on the default model trained on the real MNIST (the session's default run)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from matnet import Sequential, save_model
from matnet.data import prepare
from matnet.nn import Dense


def matnet(*args):
    return subprocess.run([sys.executable, "-m", "matnet.cli.main", *args], capture_output=True, text=True,
                          timeout=300, env=os.environ)


def one_error_line(done, code, message):
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("matnet: error: ") and message in lines[0], done.stderr


def test_evaluate_json_matches_the_run(default_run, mnist):
    out, summary = default_run
    result = json.loads(matnet("evaluate", str(out), "--json").stdout)
    assert result["accuracy"] == summary["test_accuracy"]
    assert result["loss"] == pytest.approx(summary["test_loss"], rel=1e-5)
    # and both against the figures counted here in NumPy from the model's probabilities (evaluate and the run
    # share the metrics code, so agreeing with each other cannot show it right)
    from matnet import load_model
    labels = mnist.test_labels.astype(np.int64)
    probabilities = load_model(out).predict_proba(mnist.test_images.reshape(-1, 784).astype(np.float32) / 255)
    predicted = probabilities.argmax(axis=1)
    assert result["accuracy"] == np.mean(predicted == labels)
    assert result["loss"] == pytest.approx(-np.log(probabilities[np.arange(10_000), labels].astype(np.float64)).mean(),
                                           rel=1e-4)
    expected = np.zeros((10, 10), np.int64)
    np.add.at(expected, (labels, predicted), 1)                # row: the true class, column: the predicted one
    np.testing.assert_array_equal(result["confusion"], expected)
    text = matnet("evaluate", str(out / "model.npz")).stdout
    assert f"accuracy {100 * summary['test_accuracy']:.2f}%" in text and "rows: true class" in text


def test_info_json(default_run):
    out, summary = default_run
    result = json.loads(matnet("info", str(out), "--json").stdout)
    assert result["parameters"] == 109_386 and result["config"]["optimizer"] == "momentum"
    assert result["summary"]["test_accuracy"] == summary["test_accuracy"]
    assert [layer["type"] for layer in result["layers"]] == ["Dense", "ReLU", "Dense", "ReLU", "Dense"]
    assert "Total params: 109,386" in matnet("info", str(out / "best")).stdout


def write_variants(images, folder):
    """Each digit as PNG: 56x56, and 70x70 pasted off-centre on a 100x140 canvas; light-on-dark and inverted."""
    files = []
    for i, image in enumerate(images):
        digit = Image.fromarray(image)
        canvas = Image.new("L", (100, 140), 0)
        canvas.paste(digit.resize((70, 70), Image.Resampling.BICUBIC), (6, 58))
        for name, picture in (("56", digit.resize((56, 56), Image.Resampling.BICUBIC)), ("100x140", canvas)):
            for polarity, pixels in (("light", np.asarray(picture)), ("dark", 255 - np.asarray(picture))):
                path = folder / f"{i:03d}-{name}-{polarity}.png"
                Image.fromarray(pixels).save(path)
                files.append(path)
    return files


@pytest.mark.slow
def test_predict_on_real_digits_rescaled_moved_and_inverted(default_run, mnist, tmp_path):
    out, _ = default_run
    files = write_variants(mnist.test_images[:200], tmp_path)
    done = matnet("predict", str(out), *map(str, files), "--json")
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert len(results) == 800 and all(len(r["probabilities"]) == 10 for r in results)
    truth = {f"{i:03d}": str(label) for i, label in enumerate(mnist.test_labels[:200])}
    agree = np.mean([r["label"] == truth[os.path.basename(r["file"])[:3]] for r in results])
    print(f"\npredict agrees with the true label on {100 * agree:.2f}% of 800 rescaled/moved/inverted digits")
    assert agree >= 0.95


@pytest.mark.slow
def test_preprocessing_leaves_mnist_digits_as_they_were(default_run, mnist, tmp_path):
    from matnet import load_model
    from matnet.data.images import to_mnist

    model = load_model(default_run[0])
    raw = prepare(mnist).x_test[:1000]
    processed = np.stack([to_mnist(image / 255.0) for image in mnist.test_images[:1000]]).reshape(1000, -1)
    same = (model.predict(processed) == model.predict(raw)).mean()
    print(f"\nprediction unchanged by preprocessing on {100 * same:.1f}% of 1,000 original test digits")
    assert same >= 0.99


def test_predict_text_top_and_show_input(default_run, mnist, tmp_path):
    out, _ = default_run
    Image.fromarray(255 - mnist.test_images[0]).save(tmp_path / "seven.png")
    done = matnet("predict", str(out), str(tmp_path / "seven.png"), "--top", "2", "--show-input",
                  str(tmp_path / "seen"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{tmp_path / 'seven.png'}: 7 (") and done.stdout.count("%") == 2
    seen = np.asarray(Image.open(tmp_path / "seen" / "seven.png"))
    assert seen.shape == (28, 28) and seen.max() > 200 and seen[0].max() == 0   # light digit on black


def test_predict_errors(default_run, tmp_path):
    out, _ = default_run
    (tmp_path / "notes.txt").write_text("hello")
    one_error_line(matnet("predict", str(out), str(tmp_path / "notes.txt")), 1, "not an image")
    one_error_line(matnet("predict", str(out), str(tmp_path / "nope.png")), 1, "no such file")
    small = Sequential([Dense(36, 4)])
    save_model(small, tmp_path / "small")
    Image.fromarray(np.eye(8, dtype=np.uint8) * 255).save(tmp_path / "a.png")
    one_error_line(matnet("predict", str(tmp_path / "small"), str(tmp_path / "a.png")), 1, "takes inputs of shape")
    one_error_line(matnet("evaluate", str(tmp_path / "small")), 1, "takes inputs of shape (36,), the images are 28x28")
    one_error_line(matnet("info", str(tmp_path / "missing")), 1, "no run folder or model file of that name")
    one_error_line(matnet("predict", str(out)), 2, "Missing argument 'IMAGES...'")


def test_gradcheck_of_the_trained_model_on_real_images(default_run):
    done = matnet("gradcheck", str(default_run[0]), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    results = {r["name"]: r["worst"] for r in json.loads(done.stdout)}
    assert set(results) == {"dense_1.W", "dense_2.W", "dense_3.W", "dense_1.b", "dense_2.b", "dense_3.b", "dx"}
    assert max(results.values()) < 1e-6
