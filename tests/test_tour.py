"""docs/tour.md: every ```python block runs, in order, in one namespace, in a temporary folder; and what it
computes (the data, a neuron, the run's validation accuracy, the weights it shows) agrees with NumPy here."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

TOUR = Path(__file__).resolve().parents[1] / "docs" / "tour.md"


def test_every_tour_snippet_runs_in_order(tmp_path, monkeypatch, mnist):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", TOUR.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 10
    namespace = {"__name__": "tour"}
    after = {}                      # the names after each block k, i.e. step k (later steps reuse z, w, model)
    for k, code in enumerate(blocks, 1):
        exec(compile(code, f"{TOUR.name} block {k}", "exec"), namespace)
        after[k] = dict(namespace)

    # step 1: the first 2,000 training images, scaled to [0, 1], as rows of 784, with their labels
    x, y = after[1]["x"], after[1]["y"]
    np.testing.assert_allclose(x, mnist.train_images[:2000].reshape(2000, 784) / 255.0, atol=1e-7)
    np.testing.assert_array_equal(y, mnist.train_labels[:2000])
    # step 2: the neuron's weighted sum, from a fresh generator with the tour's seed, in float64
    w = np.random.default_rng(0).normal(0, 0.05, 784)
    z = mnist.train_images[0].reshape(784).astype(np.float64) / 255.0 @ w + 0.1
    assert after[2]["z"] == pytest.approx(z, rel=1e-5) and after[2]["a"] == pytest.approx(max(z, 0.0), rel=1e-5)
    # step 9: the last validation accuracy the run printed is the trained model's, counted here from its logits
    model, history = after[9]["model"], after[9]["history"]
    x_val, y_val = mnist.train_images[-1000:].reshape(1000, 784) / 255.0, mnist.train_labels[-1000:]
    logits = model.forward(x_val.astype(np.float32))
    assert history["val_acc"][-1] == np.mean(logits.argmax(axis=1) == y_val)
    # step 10: the images shown are the first layer's weights, unit by unit
    images = after[10]["images"]
    assert images.shape == (64, 28, 28)
    np.testing.assert_array_equal(images[5].ravel(), model.layers[0].params["W"][5])
