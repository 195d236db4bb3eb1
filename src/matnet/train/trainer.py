"""The training loop: mini-batch gradient descent with a schedule, clipping, validation and callbacks.

Per step:  logits = model(x_batch);  L = loss(logits, y_batch);  model.backward(dL/dlogits);
           clip the gradient's global norm (if asked);  lr = schedule(t);  optimizer.step(parameters)
Per epoch: validation loss and accuracy, the metrics to the History and to every callback.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from matnet.data.prepare import BatchIterator
from matnet.errors import MatnetError
from matnet.nn.activations import Softmax
from matnet.nn.losses import SoftmaxCrossEntropy
from matnet.optim.clip import clip_grad_norm
from matnet.optim.optimizers import Adam, Optimizer
from matnet.optim.schedules import Schedule
from matnet.train.callbacks import Callback

__all__ = ["History", "Trainer", "TrainingDiverged", "evaluate", "accuracy"]


class TrainingDiverged(MatnetError):
    """The loss became NaN or infinite."""


@dataclass
class History:
    """Per-epoch metrics: ``history.epochs[i]`` is a dict; ``history["val_loss"]`` is one metric's list."""

    epochs: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    restored_best: bool = False

    def __getitem__(self, key: str) -> list:
        return [epoch[key] for epoch in self.epochs if key in epoch]

    def __len__(self) -> int:
        return len(self.epochs)


def accuracy(logits, y) -> float:
    """Fraction of rows whose largest output is the true class (y: labels (N,) or one-hot rows (N, C))."""
    truth = y if y.ndim == 1 else y.argmax(axis=1)
    return float((logits.argmax(axis=1) == truth).mean())


def evaluate(model, x, y, loss=None, batch_size: int = 4096) -> dict:
    """Mean loss and accuracy of ``model`` on (x, y), in batches, without dropout: ``{"loss", "accuracy"}``."""
    loss = loss or SoftmaxCrossEntropy()
    total_loss, correct, n = 0.0, 0, len(x)
    if n == 0:
        raise ValueError("cannot evaluate on an empty set")
    for start in range(0, n, batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        logits = model.forward(xb)
        total_loss += loss.forward(logits, yb) * len(xb)
        correct += accuracy(logits, yb) * len(xb)
    return {"loss": total_loss / n, "accuracy": correct / n}


class Trainer:
    """Holds what the loop needs; ``fit`` runs it and returns a :class:`History`.

    ``schedule`` maps progress in epochs to a learning rate; without one the optimizer's ``lr`` stays fixed.
    """

    def __init__(self, model, *, optimizer: Optimizer | None = None, loss=None, schedule: Schedule | None = None,
                 epochs: int = 10, batch_size: int = 128, clip_norm: float | None = None, seed: int = 0,
                 callbacks: list[Callback] = ()):
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        if clip_norm is not None and clip_norm <= 0:
            raise ValueError(f"clip norm must be positive, got {clip_norm}")
        self.model = model
        self.optimizer = optimizer or Adam()
        self.loss = loss or SoftmaxCrossEntropy()
        self.schedule = schedule
        self.epochs, self.batch_size, self.clip_norm = int(epochs), int(batch_size), clip_norm
        self.rng = np.random.default_rng(seed)  # batch order; the model's own seed made its weights
        self.callbacks = list(callbacks)
        self.history = History()
        self.stop_training = False
        self.steps_per_epoch = 0
        self.running_loss = math.nan

    def _emit(self, hook: str, *args) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    def fit(self, x, y, validation_data=None) -> History:
        self._check_loss_matches_model()
        batches = BatchIterator(x, y, self.batch_size, shuffle=True, rng=self.rng)
        self.steps_per_epoch = len(batches)
        params = self.model.parameters
        self._emit("on_train_begin")
        for epoch in range(1, self.epochs + 1):
            self._emit("on_epoch_begin", epoch)
            started = time.perf_counter()
            loss_sum, correct, seen = 0.0, 0.0, 0
            for step, (xb, yb) in enumerate(batches):
                if self.schedule is not None:
                    self.optimizer.lr = self.schedule(epoch - 1 + (step + 1) / self.steps_per_epoch)
                logits = self.model.forward(xb, training=True)
                loss_value = self.loss.forward(logits, yb)
                if not math.isfinite(loss_value):
                    raise TrainingDiverged(
                        f"the loss became {loss_value} at epoch {epoch}, step {step + 1}: training stopped; "
                        f"try a lower learning rate (now {self.optimizer.lr:.3g}) or gradient clipping")
                self.model.backward(self.loss.backward())
                if self.clip_norm is not None:
                    clip_grad_norm(params.grads, self.clip_norm)
                self.optimizer.step(params)
                n = len(xb)
                loss_sum += loss_value * n
                correct += accuracy(logits, yb) * n
                seen += n
                self.running_loss = loss_sum / seen
                self._emit("on_batch_end", step, loss_value)
            metrics = {"epoch": epoch, "loss": loss_sum / seen, "acc": correct / seen}
            if validation_data is not None:
                val = evaluate(self.model, *validation_data, loss=self.loss)
                metrics.update(val_loss=val["loss"], val_acc=val["accuracy"])
            metrics.update(lr=self.optimizer.lr, seconds=time.perf_counter() - started)
            self.history.epochs.append(metrics)
            self._emit("on_epoch_end", epoch, metrics)
            if self.stop_training:
                break
        self._emit("on_train_end")
        return self.history

    def _check_loss_matches_model(self):
        if isinstance(self.loss, SoftmaxCrossEntropy) and isinstance(self.model.layers[-1], Softmax):
            raise ValueError("the model ends in Softmax, but SoftmaxCrossEntropy takes logits (it applies softmax "
                             "itself): remove the final Softmax layer")

