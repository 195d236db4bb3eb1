"""A training run: a config in, a run folder out.

    runs/NAME/
        config.toml      the resolved configuration (every value, defaults included)
        metrics.jsonl    one JSON object per epoch: loss, acc, val_loss, val_acc, lr, seconds
        model.npz/.json  the final model (see matnet.model_file)
        summary.json     test_accuracy, test_loss, epochs run, seconds, parameter count
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import tomli_w

from matnet import backend
from matnet.data.datasets import load_dataset
from matnet.data.prepare import prepare
from matnet.fileio import write_json, write_text
from matnet.model import build_mlp
from matnet.model_file import save_model
from matnet.optim.optimizers import make_optimizer
from matnet.optim.schedules import make_schedule
from matnet.train.callbacks import Callback, EarlyStopping, EpochLog, ProgressBar
from matnet.train.trainer import evaluate

__all__ = ["TrainConfig", "MetricsFile", "train_run"]


@dataclass
class TrainConfig:
    """Everything a run depends on. The defaults are the demo: 784-128-64-10 to >= 98% on MNIST."""

    layers: list[int] = field(default_factory=lambda: [784, 128, 64, 10])
    activation: str = "relu"
    dropout: float = 0.0
    optimizer: str = "momentum"
    lr: float = 0.1
    momentum: float = 0.9
    schedule: str = "cosine"
    warmup: float = 0.0
    weight_decay: float = 5e-4
    clip_norm: float = 0.0             # 0: no clipping
    patience: int = 0                  # 0: no early stopping
    batch_size: int = 128
    epochs: int = 30
    seed: int = 0
    dataset: str = "mnist"
    subset: int = 0                    # 0: all training images
    val_size: int = 10_000
    out: str = "runs/latest"

    def check(self) -> None:
        """Errors that name the setting, before any work is done."""
        positive = {"batch_size": self.batch_size, "epochs": self.epochs, "lr": self.lr}
        for key, value in positive.items():
            if not value > 0:
                raise ValueError(f"{key.replace('_', '-')} must be positive, got {value}")
        for key in ("warmup", "weight_decay", "clip_norm", "patience", "subset", "val_size"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key.replace('_', '-')} must be >= 0, got {getattr(self, key)}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]


class MetricsFile(Callback):
    """Rewrites ``metrics.jsonl`` atomically after every epoch, so an interrupted run keeps what it measured."""

    def __init__(self, path: Path):
        self.path, self.lines = Path(path), []

    def on_epoch_end(self, trainer, epoch, metrics):
        self.lines.append(json.dumps(metrics))
        write_text(self.path, "\n".join(self.lines) + "\n")


def train_run(config: TrainConfig, *, progress: bool = True, log=None) -> dict:
    """Fetch the data if needed, train, evaluate on the test set, write the run folder; return the summary."""
    config.check()
    out = Path(config.out)
    dataset = load_dataset(config.dataset, progress=progress)
    splits = prepare(dataset, val_size=config.val_size, subset=config.subset or None)
    n_inputs = int(np.prod(dataset.image_shape))
    if config.layers[0] != n_inputs or config.layers[-1] != len(dataset.classes):
        raise ValueError(f"--layers must start with {n_inputs} (the {config.dataset} image size) and end with "
                         f"{len(dataset.classes)} (its classes), got {','.join(map(str, config.layers))}")
    model = build_mlp(config.layers, config.activation, dropout=config.dropout, seed=config.seed,
                      classes=dataset.classes,
                      preprocessing={"image_shape": list(dataset.image_shape), "scale": "pixel / 255",
                                     "flatten": True, "dataset": config.dataset})
    optimizer = make_optimizer(config.optimizer, config.lr, config.weight_decay, config.momentum)
    schedule = make_schedule(config.schedule, config.lr, config.epochs, config.warmup)

    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "config.toml", tomli_w.dumps(asdict(config)))
    callbacks = [MetricsFile(out / "metrics.jsonl")]
    if progress:
        callbacks += [ProgressBar(), EpochLog(file=log)]
    if config.patience:
        callbacks.append(EarlyStopping(patience=config.patience))

    started = time.perf_counter()
    history = model.fit(splits.x_train, splits.y_train, epochs=config.epochs, batch_size=config.batch_size,
                        optimizer=optimizer, schedule=schedule, validation_data=(splits.x_val, splits.y_val)
                        if len(splits.x_val) else None, clip_norm=config.clip_norm or None,
                        callbacks=callbacks, seed=config.seed)
    train_seconds = time.perf_counter() - started
    test = evaluate(model, splits.x_test, splits.y_test)
    save_model(model, out / "model")
    summary = {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "epochs": len(history),
        "best_epoch": history.best_epoch,
        "train_seconds": round(train_seconds, 3),
        "seconds_per_epoch": round(train_seconds / max(len(history), 1), 3),
        "parameters": model.num_params,
        "train_size": len(splits.x_train),
        "dataset": config.dataset,
        "backend": backend.name,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    if history.epochs:
        summary.update({k: history.epochs[-1][k] for k in ("loss", "acc", "val_loss", "val_acc")
                        if k in history.epochs[-1]})
    write_json(out / "summary.json", summary)
    return summary

