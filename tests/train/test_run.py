"""Runs on the real MNIST: the default configuration reaches 98%; interrupted runs resume bit-identically."""

import json
import os
import signal
import subprocess
import sys
import time
import tomllib

import numpy as np
import pytest

from matnet import load_model
from matnet.config import TrainConfig, load_config
from matnet.data import prepare
from matnet.errors import MatnetError
from matnet.architectures import build_cnn, build_mlp
from matnet.nn.dropout import Dropout
from matnet.optim.optimizers import Adam, Momentum, make_optimizer
from matnet.optim.schedules import make_schedule
from matnet.run import make_augment, train_run
from matnet.train import Callback
from matnet.train.batches import BatchIterator
from matnet.train.trainer import Trainer, TrainingInterrupted

RUN_FILES = ["best.json", "best.npz", "checkpoint.npz", "config.toml", "diagnosis.json", "layer_stats.json",
             "metrics.jsonl",
             "model.json", "model.npz", "predictions.npz", "steps.json", "summary.json"]


@pytest.mark.slow
def test_default_network_reaches_98_percent_on_mnist(default_run, mnist):
    out, summary = default_run
    assert summary["test_accuracy"] >= 0.98, summary
    assert summary["parameters"] == 109_386
    assert sorted(p.name for p in out.iterdir()) == RUN_FILES
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["test_accuracy"] == summary["test_accuracy"] and "test_loss" in on_disk
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == list(range(1, TrainConfig().epochs + 1))
    assert lines[-1]["val_acc"] > 0.97 and lines[-1]["loss"] < lines[0]["loss"]
    config = tomllib.loads((out / "config.toml").read_text())
    assert config["layers"] == [784, 128, 64, 10] and config["optimizer"] == TrainConfig().optimizer
    assert TrainConfig.from_dict(config) == TrainConfig(out=str(out))     # the file alone reproduces the run
    model = load_model(out / "model")
    splits = prepare(mnist)
    accuracy = (model.predict(splits.x_test) == splits.y_test).mean()
    assert accuracy == pytest.approx(summary["test_accuracy"])
    best = min(lines, key=lambda m: m["val_loss"])
    assert summary["best_epoch"] == best["epoch"]
    best_model = load_model(out / "best")
    val_loss = best_model.evaluate(splits.x_val, splits.y_val)["loss"]
    assert val_loss == pytest.approx(best["val_loss"], rel=1e-5)


# --- resume ------------------------------------------------------------------------------------------------
SMALL = dict(subset=3000, val_size=1000, epochs=3, batch_size=100, dropout=0.2, optimizer="adam", lr=2e-3,
             patience=5)   # dropout, Adam and early stopping: every kind of state a resume must restore


def without_seconds(path):
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"}
            for line in path.read_text().splitlines()]


def assert_same_run(a, b):
    for name in ("model", "best"):
        with np.load(a / f"{name}.npz") as x, np.load(b / f"{name}.npz") as y:
            assert x.files == y.files
            for key in x.files:
                np.testing.assert_array_equal(x[key], y[key], err_msg=f"{name}.npz {key}")
    assert without_seconds(a / "metrics.jsonl") == without_seconds(b / "metrics.jsonl")
    for name in ("steps.json", "layer_stats.json"):     # the figures' records are complete after a resume
        assert json.loads((a / name).read_text()) == json.loads((b / name).read_text()), name
    sa, sb = (json.loads((p / "summary.json").read_text()) for p in (a, b))
    for key in ("test_accuracy", "test_loss", "loss", "acc", "val_loss", "val_acc", "epochs", "best_epoch"):
        assert sa[key] == sb[key], key


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, mnist):
    out = tmp_path_factory.mktemp("runs") / "whole"
    train_run(TrainConfig(**SMALL, out=str(out)), progress=False)
    return out


class StopAt(Callback):
    """Raises KeyboardInterrupt once, after a given step of a given epoch (step None: at the epoch's end)."""

    def __init__(self, epoch, step=None):
        self.epoch, self.step, self.current = epoch, step, 0

    def on_epoch_begin(self, trainer, epoch):
        self.current = epoch

    def on_batch_end(self, trainer, step, loss):
        if self.current == self.epoch and self.step == step + 1:
            raise KeyboardInterrupt

    def on_epoch_end(self, trainer, epoch, metrics):
        if epoch == self.epoch and self.step is None:
            raise KeyboardInterrupt


@pytest.mark.parametrize("where", [(1, None), (2, 7)], ids=["after-epoch-1", "epoch-2-step-7"])
def test_resume_after_an_interrupt_is_bit_identical(where, uninterrupted, tmp_path, monkeypatch):
    out = tmp_path / "stopped"
    config = TrainConfig(**SMALL, out=str(out))
    from matnet.train import trainer as trainer_module

    real_init = trainer_module.Trainer.__init__

    def init_with_stop(self, *args, callbacks=(), **kwargs):
        real_init(self, *args, callbacks=[*callbacks, StopAt(*where)], **kwargs)

    monkeypatch.setattr(trainer_module.Trainer, "__init__", init_with_stop)
    with pytest.raises(TrainingInterrupted) as stop:
        train_run(config, progress=False)
    assert (stop.value.epoch, stop.value.step) == ((2, 0) if where[1] is None else where)
    assert not (out / "summary.json").exists() and (out / "checkpoint.npz").exists()
    monkeypatch.undo()
    train_run(config, progress=False, resume=True)
    assert_same_run(uninterrupted, out)


@pytest.mark.slow
def test_sigint_to_a_real_process_then_resume(uninterrupted, tmp_path):
    out = tmp_path / "signalled"
    args = [sys.executable, "-m", "matnet.cli.main", "train", "--out", str(out)]
    for key, value in SMALL.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    args[args.index("--subset") + 1] = "50000"          # long enough epochs to land in the middle of one
    whole = tmp_path / "whole"
    subprocess.run([*args[:args.index("--out") + 1], str(whole), *args[args.index("--out") + 2:]], check=True,
                   capture_output=True)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "metrics.jsonl").exists() and time.monotonic() < deadline:   # wait for epoch 1 to end
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted in epoch 2 after step" in stderr and f"matnet train --resume {out}" in stderr
    assert "Traceback" not in stderr
    done = subprocess.run([sys.executable, "-m", "matnet.cli.main", "train", "--resume", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert_same_run(whole, out)


def test_resume_errors(tmp_path, uninterrupted):
    with pytest.raises(MatnetError, match="no checkpoint to resume from"):
        train_run(TrainConfig(**SMALL, out=str(tmp_path / "none")), progress=False, resume=True)
    with pytest.raises(MatnetError, match="finished all 3 epochs"):
        train_run(TrainConfig(**SMALL, out=str(uninterrupted)), progress=False, resume=True)


# --- configs -----------------------------------------------------------------------------------------------
def test_layers_must_fit_the_dataset(tmp_path, mnist):
    with pytest.raises(MatnetError, match="must start with 784 .* and end with 10"):
        train_run(TrainConfig(layers=[784, 10, 5], out=str(tmp_path / "x")), progress=False)


@pytest.mark.parametrize("text,message", [
    ("learning_rate = 0.1", r"unknown key 'learning_rate' \(did you mean 'lr'\?\); known keys: model, "),
    ("optimzer = 'adam'\nbatchsize = 8", r"unknown keys 'optimzer' \(did you mean 'optimizer'\?\), 'batchsize' "
                                          r"\(did you mean 'batch_size'\?\)"),
    ("lr = 'fast'", "key 'lr' must be a number, got 'fast'"),
    ("epochs = 2.5", "key 'epochs' must be an integer"),
    ("layers = [784, 'x', 10]", "key 'layers' must be a list of integers"),
    ("optimizer = 'rmsprop'", "unknown optimizer 'rmsprop'; choose one of"),
    ("batch_size = 0", "batch size must be at least 1"),
    ("filters = []", "filters must be one or more positive channel counts"),
    ("lr = ", "invalid TOML"),
])
def test_config_file_errors_name_the_key(text, message, tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(text + "\n")
    with pytest.raises(MatnetError, match=message) as err:
        load_config(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("settings, build", [
    ({"lr": 0.0}, lambda: Momentum(0.0)),
    ({"lr": float("nan"), "optimizer": "adam"}, lambda: Adam(float("nan"))),
    ({"weight_decay": -1.0}, lambda: Momentum(0.1, weight_decay=-1.0)),
    ({"weight_decay": float("inf")}, lambda: Momentum(0.1, weight_decay=float("inf"))),
    ({"momentum": 1.0}, lambda: Momentum(0.1, momentum=1.0)),
    ({"dropout": 1.0}, lambda: Dropout(1.0)),
    ({"warmup": -1.0}, lambda: make_schedule("cosine", 30, -1.0)),
    ({"optimizer": "rmsprop"}, lambda: make_optimizer("rmsprop", 0.1)),
    ({"schedule": "linear"}, lambda: make_schedule("linear", 30)),
    ({"epochs": 0}, lambda: Trainer(build_mlp([4, 2]), epochs=0)),
    ({"batch_size": 0}, lambda: BatchIterator(np.zeros((2, 4)), np.zeros(2), 0)),
    ({"activation": "swish"}, lambda: build_mlp([4, 2], "swish")),
    ({"layers": [784, 0, 10]}, lambda: build_mlp([784, 0, 10])),
    ({"filters": []}, lambda: build_cnn((28, 28), 10, filters=[])),
])
def test_a_setting_s_error_is_its_constructor_s(settings, build):
    """One owner per rule: the config checks these settings by building what they configure, so its error is the
    constructor's own (with the source of the settings in front)."""
    with pytest.raises(ValueError) as made:
        build()
    with pytest.raises(MatnetError) as checked:
        TrainConfig.from_dict(settings)
    assert str(checked.value) == f"config: {made.value}"


def test_example_configs_are_valid():
    root = os.path.join(os.path.dirname(__file__), "..", "..", "configs")
    names = sorted(os.listdir(root))
    assert {"mlp.toml", "fashion-mlp.toml"} <= set(names)
    for name in names:
        TrainConfig.from_dict(load_config(os.path.join(root, name)))
    assert TrainConfig.from_dict(load_config(os.path.join(root, "mlp.toml"))).layers == [784, 128, 64, 10]


@pytest.mark.parametrize("augment,flip,writers,expected", [
    (False, False, 0.0, None),
    (True, False, 0.0, "Augment(shift=2, degrees=10, flip=False, writers=0)"),
    (False, True, 0.0, "Augment(shift=0, degrees=0, flip=True, writers=0)"),      # the mirror alone: no warp, no blur
    (True, True, 0.0, "Augment(shift=2, degrees=10, flip=True, writers=0)"),
    (False, False, 0.5, "Augment(shift=0, degrees=0, flip=False, writers=0.5)"),  # other writers alone
])
def test_augment_flip_and_writers_choose_the_transform(augment, flip, writers, expected):
    transform = make_augment(TrainConfig(augment=augment, flip=flip, writers=writers), (28, 28))
    assert (None if transform is None else repr(transform)) == expected
