"""What a run records for its figures, cheaply: every step's loss and learning rate, and, now and then, the health
of each layer. Both write their files atomically at the end of every epoch and carry their records through
checkpoints, so a resumed run's files are complete.

    steps.json        {"steps_per_epoch": S, "loss": [...], "lr": [...]}                      (one entry per step)
    layer_stats.json  {"steps": [...], "weights": {W: {"weight_norm", "grad_norm", "update_ratio"}},
                       "dead": {"epochs": [...], relu: [...]}}

``update_ratio`` is ``||W_t - W_(t-1)|| / ||W_(t-1)||`` for one step (a healthy run keeps it near 1e-3);
``dead`` is the fraction of a ReLU layer's units that output zero for every image of a fixed validation batch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from matnet.backend import xp
from matnet.fileio import write_text
from matnet.nn.activations import LeakyReLU, ReLU
from matnet.train.callbacks import Callback

__all__ = ["StepLog", "LayerStats"]


def _norm(a) -> float:
    return math.sqrt(float(xp.dot(a, a)))


class StepLog(Callback):
    """The loss and learning rate of every step (two list appends per step)."""

    def __init__(self, path: str | Path):
        self.path, self.loss, self.lr = Path(path), [], []

    def on_batch_end(self, trainer, step, loss):
        self.loss.append(loss)
        self.lr.append(trainer.optimizer.lr)

    def on_epoch_end(self, trainer, epoch, metrics):
        write_text(self.path, json.dumps({"steps_per_epoch": trainer.steps_per_epoch, "loss": self.loss,
                                          "lr": self.lr}))

    def state_dict(self):
        return {}, {"loss": self.loss, "lr": self.lr}

    def load_state_dict(self, arrays, values):
        self.loss, self.lr = list(values["loss"]), list(values["lr"])


class LayerStats(Callback):
    """Weight and gradient norms and the update/weight ratio every ``every`` steps (one snapshot of the flat
    parameters the step before); dead ReLU units on ``probe`` (a validation batch) after every epoch.

    ``every`` is at most ``max_every``, and smaller for short runs so that they too get ~100 points.
    """

    def __init__(self, path: str | Path, probe=None, max_every: int = 50):
        self.path, self.probe, self.max_every = Path(path), probe, int(max_every)
        self.every = self.max_every
        self.record = {"steps": [], "weights": {}, "dead": {"epochs": []}}
        self._before = None

    def on_train_begin(self, trainer):
        total = trainer.epochs * trainer.steps_per_epoch
        self.every = max(2, min(self.max_every, total // 100))   # 2 at least: a snapshot, then a record

    def on_batch_end(self, trainer, step, loss):
        done = trainer.epochs_done * trainer.steps_per_epoch + trainer.step
        params = trainer.model.parameters
        if done % self.every == self.every - 1:
            self._before = params.values.copy()
        elif done % self.every == 0 and self._before is not None:
            self.record["steps"].append(done)
            for name, span in zip(params.names, params.slices):
                if not name.endswith(".W"):
                    continue
                w, old = params.values[span], self._before[span]
                stats = self.record["weights"].setdefault(name, {"weight_norm": [], "grad_norm": [],
                                                                 "update_ratio": []})
                stats["weight_norm"].append(_norm(w))
                stats["grad_norm"].append(_norm(params.grads[span]))
                stats["update_ratio"].append(_norm(w - old) / max(_norm(old), 1e-12))
            self._before = None

    def on_epoch_end(self, trainer, epoch, metrics):
        if self.probe is not None:
            dead = self.record["dead"]
            dead["epochs"].append(epoch)
            x = self.probe
            for layer in trainer.model.layers:
                x = layer.forward(x)
                if isinstance(layer, (ReLU, LeakyReLU)):
                    fired = (x > 0).any(axis=0)
                    dead.setdefault(layer.name, []).append(1.0 - float(fired.mean()))
        write_text(self.path, json.dumps(self.record))

    def state_dict(self):
        arrays = {"before": self._before} if self._before is not None else {}
        return arrays, {"record": self.record}

    def load_state_dict(self, arrays, values):
        self.record = values["record"]
        self._before = arrays.get("before")
