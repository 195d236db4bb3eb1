"""Planted faults: each triggers its own diagnosis and no other; a healthy run gets none."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from matnet.config import TrainConfig
from matnet.data import load_dataset, prepare
from matnet.architectures import build_mlp
from matnet.optim.optimizers import Adam, Momentum
from matnet.run import train_run
from matnet.runfolder import RunFolder, read_run
from matnet.train.callbacks import LayerStats
from matnet.train.diagnose import Diagnose, check_fit, diagnose_run, format_finding, labels_learnable
from matnet.train.trainer import Trainer, TrainingDiverged


@pytest.fixture(scope="module")
def small(mnist):
    return prepare(mnist, val_size=1000, subset=3000)


def diagnose(model, x, y, xv, yv, *, optimizer, epochs=3, batch_size=64):
    """Train with LayerStats and Diagnose; returns (findings, printed text)."""
    out = io.StringIO()
    stats = LayerStats(xv[:500])
    check = Diagnose(xv[:500], yv[:500], stats, file=out)
    trainer = Trainer(model, optimizer=optimizer, epochs=epochs, batch_size=batch_size, callbacks=[stats, check])
    trainer.fit(x, y, validation_data=(xv, yv))
    return [f["kind"] for f in check.findings], out.getvalue()


def test_a_healthy_small_run_says_nothing(small):
    kinds, text = diagnose(build_mlp([784, 64, 10]), small.x_train, small.y_train, small.x_val, small.y_val,
                           optimizer=Momentum(0.05))
    assert kinds == [] and text == ""


def test_nan_loss_names_the_learning_rate_and_the_layer(tmp_path, capsys):
    # leaky ReLU: with plain ReLU, lr 50 kills every unit in the first step (the dead-ReLU diagnosis) before a NaN
    config = TrainConfig(out=str(tmp_path / "run"), optimizer="sgd", lr=50.0, schedule="constant",
                         activation="leaky_relu", epochs=2, subset=2000, val_size=1000)
    with pytest.raises(TrainingDiverged):
        train_run(config, progress=False)
    findings = RunFolder(tmp_path / "run").read_diagnosis()
    assert [f["kind"] for f in findings] == ["diverged"]
    text = format_finding(findings[0])
    assert "learning rate 50" in text and "--lr" in text and "step" in text
    assert "dense_" in text   # the first layer with a non-finite output on the probe
    print(text)


def test_inputs_times_255_are_not_normalised(small):
    kinds, text = diagnose(build_mlp([784, 64, 10]), small.x_train * 255, small.y_train, small.x_val * 255,
                           small.y_val, optimizer=Adam(1e-3), epochs=2)
    assert kinds == ["inputs_not_normalised"], text
    assert "255" in text
    print(text)


def test_permuted_labels_are_at_chance_and_named(small):
    rng = np.random.default_rng(0)
    kinds, text = diagnose(build_mlp([784, 64, 10]), small.x_train, rng.permutation(small.y_train), small.x_val,
                           rng.permutation(small.y_val), optimizer=Momentum(0.05), epochs=2)
    assert kinds == ["at_chance"], text
    assert "labels" in text
    print(text)


def test_deep_sigmoid_net_with_tiny_weights_has_vanishing_gradients(small):
    model = build_mlp([784] + [32] * 9 + [10], "sigmoid")
    model.parameters.values[...] *= 0.1
    kinds, text = diagnose(model, small.x_train, small.y_train, small.x_val, small.y_val, optimizer=Momentum(0.05),
                           epochs=2)
    assert kinds == ["vanishing_gradients"], text
    assert "sigmoid" in text and "--activation relu" in text
    print(text)


@pytest.fixture(scope="module")
def fashion():
    try:
        return prepare(load_dataset("fashion-mnist", progress=False), val_size=1000, subset=3000)
    except Exception as err:   # not cached and no network
        pytest.skip(f"Fashion-MNIST unavailable: {err}")


def test_a_tiny_model_underfits_fashion_mnist(fashion):
    kinds, text = diagnose(build_mlp([784, 2, 10]), fashion.x_train, fashion.y_train, fashion.x_val, fashion.y_val,
                           optimizer=Adam(3e-3), epochs=5)
    assert kinds == ["underfitting"], text
    assert "--layers" in text
    print(text)


def test_overfitting_from_the_metrics():
    metrics = [{"epoch": e, "loss": 1 / e, "acc": 0.9 + e / 100, "val_loss": 0.3 + e / 50, "val_acc": 0.9}
               for e in range(1, 6)]
    assert check_fit(metrics)["kind"] == "overfitting"
    assert check_fit(metrics[:2]) is None


def test_labels_learnable_tells_real_labels_from_shuffled(small):
    x, y = small.x_val[:500], small.y_val[:500]
    assert labels_learnable(x, y, 10) > 0.6
    assert labels_learnable(x, np.random.default_rng(1).permutation(y), 10) < 0.2


def test_the_default_run_gets_no_diagnosis(default_run):
    folder, _ = default_run
    assert RunFolder(folder).read_diagnosis() == []
    run = read_run(folder)
    assert diagnose_run(run) == []
    assert json.loads((folder / "summary.json").read_text())["test_accuracy"] > 0.97


def test_the_report_shows_a_health_section_and_matnet_diagnose_prints_it(tmp_path, capsys):
    from matnet.cli.main import main
    from matnet.reports.report import write_report

    config = TrainConfig(out=str(tmp_path / "run"), lr=50.0, epochs=1, subset=1000, val_size=500)
    train_run(config, progress=False)   # plain ReLU: lr 50 kills every unit
    page = write_report(tmp_path / "run", progress=False).path.read_text()
    assert 'id="health"' in page and "dead ReLUs" in page
    capsys.readouterr()
    assert main(["diagnose", str(tmp_path / "run")]) == 0
    assert "dead ReLUs" in capsys.readouterr().out


def test_diagnose_says_what_it_could_not_check(tmp_path, capsys):
    from matnet.cli.main import main

    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1, "loss": 1.0, "acc": 0.5}\n')
    assert main(["diagnose", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no problems found in what the folder holds; missing: ")
    assert "the layer statistics (layer_stats.json)" in out and "test predictions" not in out


def test_at_chance_with_a_warmup_longer_than_the_run_says_so_and_no_relu_advice_for_relus(tmp_path, mnist):
    """--warmup 5 on a 1-epoch run: the rate never reaches its peak. The finding says so, and no longer advises
    --activation relu to a network of ReLUs."""
    import json

    from matnet.config import TrainConfig
    from matnet.run import train_run

    out = tmp_path / "r"
    train_run(TrainConfig(subset=500, epochs=1, warmup=5, out=str(out)), progress=False)
    found = json.loads((out / "diagnosis.json").read_text())
    chance = next(f for f in found if f["kind"] == "at_chance")
    assert "the warm-up (5 epochs) is longer than the run (1)" in chance["evidence"]
    assert chance["fix"].startswith("a warm-up shorter than the run (--warmup below 1)")
    assert "--activation relu" not in chance["fix"]
