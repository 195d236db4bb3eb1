"""A training run: a config in, a run folder out (its files: see ``matnet.runfolder``).

``train_run(config, resume=True)`` continues from the folder's checkpoint and ends with exactly the weights and
metrics (wall-clock seconds aside) of a run that was never interrupted.
"""

from __future__ import annotations

import platform

import numpy as np

from matnet import backend
from matnet.backend import to_numpy
from matnet.config import TrainConfig, config_toml
from matnet.data.augment import Augment
from matnet.data.datasets import load_dataset
from matnet.data.prepare import prepare
from matnet.errors import MatnetError, SettingError
from matnet.nn.losses import make_loss
from matnet.architectures import ARCHITECTURES, build_cnn, build_fastcnn, build_mlp, build_resnet
from matnet.optim.optimizers import make_optimizer
from matnet.optim.schedules import make_schedule
from matnet.runfolder import RunFolder
from matnet.train.callbacks import BestModel, Callback, LayerStats, MetricsLog, StepLog, standard_callbacks
from matnet.train.checkpoint import load_checkpoint
from matnet.train.diagnose import Diagnose
from matnet.train.metrics import evaluate
from matnet.train.trainer import Trainer, TrainingDiverged

__all__ = ["train_run", "prepare_run", "make_trainer", "finish_run", "build_model", "make_augment"]


def build_model(config: TrainConfig, dataset):
    """The network the config describes, for the dataset's image size and classes."""
    if config.model not in ARCHITECTURES:
        raise MatnetError(f"unknown model {config.model!r}; choose one of {', '.join(ARCHITECTURES)}")
    preprocessing = {"image_shape": list(dataset.image_shape), "scale": "pixel / 255",
                     "flatten": config.model == "mlp", "dataset": config.dataset}
    common = {"seed": config.seed, "classes": dataset.classes, "preprocessing": preprocessing,
              "output": config.output, "loss": config.loss}
    if config.model == "mlp":
        n_inputs = int(np.prod(dataset.image_shape))
        if config.layers[0] != n_inputs or config.layers[-1] != len(dataset.classes):
            raise MatnetError(f"layers must start with {n_inputs} (the {config.dataset} image size) and end with "
                              f"{len(dataset.classes)} (its classes), got {','.join(map(str, config.layers))}")
        return build_mlp(config.layers, config.activation, dropout=config.dropout,
                         init=None if config.init == "auto" else config.init, **common)
    if len(dataset.image_shape) != 2 or min(dataset.image_shape) < 4:
        raise MatnetError(f"the {config.model} model needs 2-D images of at least 4x4, {config.dataset} has "
                          f"{dataset.image_shape}")
    if config.model == "resnet":
        return build_resnet(dataset.image_shape, len(dataset.classes), dropout=config.dropout, **common)
    build = build_fastcnn if config.model == "fastcnn" else build_cnn
    try:
        return build(dataset.image_shape, len(dataset.classes), filters=config.filters, dense=config.dense,
                     dropout=config.dropout, **common)
    except ValueError as err:
        raise MatnetError(f"the {config.model} model on {config.dataset}: {err}") from None


def make_augment(config: TrainConfig, image_shape):
    """The transform of training batches that ``augment``, ``flip`` and ``writers`` ask for, or None."""
    if not (config.augment or config.flip or config.writers):
        return None
    return Augment(image_shape, shift=2.0 if config.augment else 0.0, degrees=10.0 if config.augment else 0.0,
                   flip=config.flip, writers=config.writers, rng=np.random.default_rng([config.seed, 1]))


def prepare_run(config: TrainConfig, *, progress: bool = True, download: bool = True):
    """``(dataset, splits, model)`` for the config (``train``, ``lr-find``, live training in ``matnet serve``): the
    data fetched if needed (``download=False``: a MatnetError when it is not cached) and split, the model built, and
    the images of every split shaped as the model's input (for convolutions, the (N, 784) rows seen as
    (N, 1, 28, 28): a view, no copy)."""
    dataset = load_dataset(config.dataset, progress=progress, download=download)
    try:                            # sizes only the data can judge: refused as the other settings are
        splits = prepare(dataset, val_size=config.val_size, subset=config.subset or None)
    except ValueError as err:
        raise SettingError(f"settings: {err}") from None
    model = build_model(config, dataset)
    for split in ("x_train", "x_val", "x_test"):
        rows = getattr(splits, split)
        setattr(splits, split, rows.reshape(len(rows), *model.input_shape))
    return dataset, splits, model


def make_trainer(config: TrainConfig, model, image_shape, *, callbacks=(), checkpoint=None) -> Trainer:
    """The trainer of a run: the config's optimizer (with its schedule), batch size, epochs, clipping, seed and
    augmentation, and its loss with label smoothing when it asks for it (the model's own otherwise). ``matnet train``
    and live training in ``matnet serve`` both use it, so the same settings train the same weights."""
    schedule = make_schedule(config.schedule, config.epochs, config.warmup)
    optimizer = make_optimizer(config.optimizer, config.lr, config.weight_decay, config.momentum, schedule=schedule)
    loss = make_loss(config.loss, config.label_smoothing) if config.label_smoothing else None
    return Trainer(model, optimizer=optimizer, loss=loss, epochs=config.epochs, batch_size=config.batch_size,
                   clip_norm=config.clip_norm or None, seed=config.seed, callbacks=list(callbacks),
                   augment=make_augment(config, image_shape), checkpoint=checkpoint)


class _OnTrainBegin(Callback):
    """Calls ``start()`` when training begins: after the trainer's own checks (the rate, the saved position), before
    its first checkpoint. ``train_run`` makes the run folder and announces the run there, so that a run the checks
    refuse writes nothing."""

    def __init__(self, start):
        self.start = start

    def on_train_begin(self, trainer):
        self.start()


def train_run(config: TrainConfig, *, progress: bool = True, log=None, resume: bool = False, force: bool = False,
              announce=None, callbacks=()) -> dict:
    """Fetch the data if needed, train (or resume), evaluate on the test set, write the run folder; return the
    summary. Ctrl-C stops at a step boundary, saves the checkpoint and raises TrainingInterrupted.

    Every setting is checked, the data loaded, the model built and the trainer's own checks passed before anything
    is written; then ``announce()`` (if given) is called, e.g. to print what is about to be trained. A run folder
    that already holds a run is refused unless ``force`` (or ``resume``, which continues it). ``callbacks``: more
    for the trainer, after the run's own (e.g. a benchmark's test accuracy after each epoch)."""
    config.check()
    folder = RunFolder(config.out)
    if resume:
        saved = load_checkpoint(folder.checkpoint)
        if saved[1]["epochs_done"] >= config.epochs:
            raise MatnetError(f"{folder.path} has finished all {config.epochs} epochs; there is nothing to resume")
    else:
        saved = None
        folder.check_new(force=force)
    dataset, splits, model = prepare_run(config, progress=progress)

    def start():
        if not saved:
            folder.create(force=force)
            folder.write_config(config_toml(config))
        if announce is not None:
            announce()

    probe = splits.x_val[:1000] if len(splits.x_val) else splits.x_train[:1000]
    probe_labels = splits.y_val[:1000] if len(splits.x_val) else splits.y_train[:1000]
    layer_stats = LayerStats(probe, folder.write_layer_stats)
    diagnosis = Diagnose(probe, probe_labels, layer_stats, save=folder.write_diagnosis, file=log)
    own = [_OnTrainBegin(start), MetricsLog(folder.write_metrics), BestModel(folder.save_best),
           StepLog(folder.write_steps), layer_stats, diagnosis]
    own += standard_callbacks(patience=config.patience, bar=progress, lines=progress, file=log)
    trainer = make_trainer(config, model, dataset.image_shape, callbacks=own + list(callbacks),
                           checkpoint=folder.checkpoint)
    if saved:
        trainer.load_state_dict(*saved)
    try:
        trainer.fit(splits.x_train, splits.y_train,
                    validation_data=(splits.x_val, splits.y_val) if len(splits.x_val) else None)
    except TrainingDiverged as err:
        finding = diagnosis.diverged(trainer)   # printed and written to the run folder; the error still ends the run
        raise TrainingDiverged(f"{err.stopped}; fix: {finding['fix']}", err.stopped) from None
    return finish_run(folder, config, model, splits, trainer)


def finish_run(folder: RunFolder, config: TrainConfig, model, splits, trainer) -> dict:
    """The end of a run, wherever it trained (``train_run``, a live session in ``matnet serve``): the test set
    evaluated, the final model, the test predictions and the summary written into ``folder``; returns the summary."""
    history = trainer.history
    test = evaluate(model, splits.x_test, splits.y_test)
    folder.save_model(model)
    folder.write_predictions(model.predict_proba(splits.x_test), to_numpy(splits.y_test))
    train_seconds = sum(epoch["seconds"] for epoch in history.epochs)
    summary = {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "epochs": len(history),
        "best_epoch": trainer.best.epoch,
        "train_seconds": round(train_seconds, 3),
        "seconds_per_epoch": round(train_seconds / max(len(history), 1), 3),
        "parameters": model.num_params,
        "train_size": len(splits.x_train),
        "dataset": config.dataset,
        "device": backend.device(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    if history.epochs:
        summary.update({k: history.epochs[-1][k] for k in ("loss", "acc", "val_loss", "val_acc")
                        if k in history.epochs[-1]})
    folder.write_summary(summary)
    return summary
