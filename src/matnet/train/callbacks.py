"""Callbacks: code that runs at fixed points of training without the loop knowing what it does.

Hooks, in the order they fire: ``on_train_begin``, then per epoch ``on_epoch_begin``, ``on_batch_end`` after
every optimizer step, ``on_epoch_end`` with the epoch's metrics; finally ``on_train_end``. ``on_interrupt`` fires
instead when training stops at a step boundary (Ctrl-C). A callback may set ``trainer.stop_training = True`` to
end training after the current epoch. A callback with state that a resumed run needs has
``state_dict() -> (arrays, values)`` and ``load_state_dict(arrays, values)``.
"""

from __future__ import annotations

import math
import sys
import time

from tqdm import tqdm

__all__ = ["Callback", "EarlyStopping", "ProgressBar", "EpochLog", "format_metrics"]


class Callback:
    def on_train_begin(self, trainer): ...
    def on_epoch_begin(self, trainer, epoch: int): ...
    def on_batch_end(self, trainer, step: int, loss: float): ...
    def on_epoch_end(self, trainer, epoch: int, metrics: dict): ...
    def on_train_end(self, trainer): ...
    def on_interrupt(self, trainer): ...


class EarlyStopping(Callback):
    """Stop when ``monitor`` (validation loss) has not improved by ``min_delta`` for ``patience`` epochs, and put
    back the weights of the best epoch (one copy of the flat parameter vector per improvement)."""

    def __init__(self, patience: int = 5, monitor: str = "val_loss", min_delta: float = 0.0,
                 restore_best: bool = True):
        if patience < 1:
            raise ValueError(f"patience must be at least 1 epoch, got {patience}")
        self.patience, self.monitor, self.min_delta, self.restore_best = patience, monitor, min_delta, restore_best
        self.best = math.inf
        self.best_epoch = None
        self.best_values = None
        self.waited = 0

    def on_epoch_end(self, trainer, epoch, metrics):
        if self.monitor not in metrics:
            raise ValueError(f"early stopping watches {self.monitor!r}, which needs validation data")
        value = metrics[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.waited = value, epoch, 0
            self.best_values = trainer.model.parameters.values.copy()
        else:
            self.waited += 1
            if self.waited >= self.patience:
                trainer.stop_training = True

    def state_dict(self):
        arrays = {"best_values": self.best_values} if self.best_values is not None else {}
        return arrays, {"best": None if math.isinf(self.best) else self.best, "best_epoch": self.best_epoch,
                        "waited": self.waited}

    def load_state_dict(self, arrays, values):
        self.best = math.inf if values.get("best") is None else values["best"]
        self.best_epoch, self.waited = values.get("best_epoch"), values.get("waited", 0)
        self.best_values = arrays.get("best_values")

    def on_train_end(self, trainer):
        trainer.history.best_epoch = self.best_epoch
        if self.restore_best and self.best_values is not None:
            trainer.model.parameters.values[...] = self.best_values
            trainer.history.restored_best = True


def format_metrics(metrics: dict) -> str:
    """One line: ``loss 0.1234  acc 96.51%  val_loss 0.1000  val_acc 97.00%  lr 1.00e-03  2.1s``."""
    parts = []
    for key, value in metrics.items():
        if key == "epoch":
            continue
        if key.endswith("acc"):
            parts.append(f"{key} {100 * value:.2f}%")
        elif key == "lr":
            parts.append(f"lr {value:.2e}")
        elif key == "seconds":
            parts.append(f"{value:.1f}s")
        else:
            parts.append(f"{key} {value:.4f}")
    return "  ".join(parts)


class ProgressBar(Callback):
    """A bar over each epoch's batches with the running loss (only on a terminal, so logs stay clean)."""

    def __init__(self, file=None, every: int = 20):
        self.file, self.every, self.bar = file or sys.stderr, every, None

    def on_epoch_begin(self, trainer, epoch):
        self.bar = tqdm(total=trainer.steps_per_epoch, desc=f"epoch {epoch}/{trainer.epochs}", unit="batch",
                        leave=False, file=self.file, disable=None, dynamic_ncols=True)

    def on_batch_end(self, trainer, step, loss):
        if (step + 1) % self.every == 0 or step + 1 == trainer.steps_per_epoch:
            self.bar.update(step + 1 - self.bar.n)
            self.bar.set_postfix_str(f"loss {trainer.running_loss:.4f}", refresh=False)

    def on_epoch_end(self, trainer, epoch, metrics):
        self.bar.close()

    def on_interrupt(self, trainer):
        if self.bar is not None:
            self.bar.close()


class EpochLog(Callback):
    """One line per epoch: loss, train and validation accuracy, learning rate, seconds."""

    def __init__(self, file=None):
        self.file = file or sys.stdout
        self.started = None

    def on_train_begin(self, trainer):
        self.started = time.perf_counter()

    def on_epoch_end(self, trainer, epoch, metrics):
        width = len(str(trainer.epochs))
        tqdm.write(f"epoch {epoch:>{width}}/{trainer.epochs}  {format_metrics(metrics)}", file=self.file)
