"""End to end on the real MNIST: the default configuration (the demo's) must reach 98% on the test set."""

import json
import tomllib

import numpy as np
import pytest

from matnet import load_model
from matnet.data import prepare
from matnet.run import TrainConfig, train_run


@pytest.mark.slow
def test_default_network_reaches_98_percent_on_mnist(tmp_path, mnist):
    out = tmp_path / "demo"
    summary = train_run(TrainConfig(out=str(out)), progress=False)
    assert summary["test_accuracy"] >= 0.98, summary
    assert summary["parameters"] == 109_386
    assert sorted(p.name for p in out.iterdir()) == ["config.toml", "metrics.jsonl", "model.json", "model.npz",
                                                     "summary.json"]
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["test_accuracy"] == summary["test_accuracy"] and "test_loss" in on_disk
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == list(range(1, TrainConfig().epochs + 1))
    assert lines[-1]["val_acc"] > 0.97 and lines[-1]["loss"] < lines[0]["loss"]
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["layers"] == [784, 128, 64, 10] and config["optimizer"] == TrainConfig().optimizer
    model = load_model(out / "model")
    splits = prepare(mnist)
    accuracy = (model.predict(splits.x_test) == splits.y_test).mean()
    assert accuracy == pytest.approx(summary["test_accuracy"])


def test_layers_must_fit_the_dataset(tmp_path, mnist):
    with pytest.raises(ValueError, match="must start with 784 .* and end with 10"):
        train_run(TrainConfig(layers=[784, 10, 5], out=str(tmp_path / "x")), progress=False)


def test_config_checks_name_the_setting():
    with pytest.raises(ValueError, match="batch-size must be positive"):
        TrainConfig(batch_size=0).check()
    with pytest.raises(ValueError, match="dropout"):
        TrainConfig(dropout=1.5).check()
    assert np.isfinite(TrainConfig().lr)
