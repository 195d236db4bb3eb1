"""Callbacks: code that runs at fixed points of training without the loop knowing what it does.

Hooks, in the order they fire: ``on_train_begin``, then per epoch ``on_epoch_begin``, ``on_batch_end`` after
every optimizer step, ``on_epoch_end`` with the epoch's metrics; finally ``on_train_end``. ``on_interrupt`` fires
instead when training stops at a step boundary (Ctrl-C). A callback may set ``trainer.stop_training = True`` to
end training after the current epoch. A callback with state that a resumed run needs has
``state_dict() -> (arrays, values)`` and ``load_state_dict(arrays, values)``.

Callbacks run in the order of the list. One reads another's record: :class:`~matnet.train.diagnose.Diagnose`
reads what :class:`LayerStats` measured in its own ``on_epoch_end``, so it names it in ``requires`` and the
trainer refuses a list where a callback comes before one it requires. Otherwise no callback depends on another:
before any of them sees an epoch, the trainer has updated its best-epoch tracker (``trainer.best``: the epoch
with the lowest validation loss, or training loss without validation data), which early stopping and the best
model share; after all of them, it writes its checkpoint. ``standard_callbacks`` makes the ones that ``fit`` and
``matnet train`` both add (early stopping, the bar, the epoch lines), in one place.

    EarlyStopping   stop when the best epoch lies ``patience`` epochs back, and put its weights back
    BestModel       ``save(model)`` whenever an epoch is the best so far
    MetricsLog      ``save(epochs)``, the History's list of per-epoch metrics, after every epoch
    StepLog         every step's loss and learning rate; ``save(record)`` after every epoch
    LayerStats      per-layer norms, update ratios and dead ReLUs; ``save(record)`` after every epoch
    ProgressBar     a bar over each epoch's batches, with the running loss
    EpochLog        one line per epoch with its metrics
"""

from __future__ import annotations

import sys

import numpy as np
from tqdm.auto import tqdm   # a terminal bar, or a widget in a notebook

from matnet.backend import to_device, to_floats, xp
from matnet.nn.activations import LeakyReLU, ReLU

__all__ = ["Callback", "EarlyStopping", "BestModel", "MetricsLog", "StepLog", "LayerStats", "ProgressBar",
           "EpochLog", "format_metrics", "standard_callbacks", "check_order", "batch_bar", "BAR_MIN_BATCHES"]

BAR_MIN_BATCHES = 10   # predict and evaluate show a bar (verbose=1) only over more batches than this


class Callback:
    requires: tuple = ()    # callbacks whose work of a hook this one reads there: they must come first in the list

    def on_train_begin(self, trainer): ...
    def on_epoch_begin(self, trainer, epoch: int): ...
    def on_batch_end(self, trainer, step: int, loss: float): ...
    def on_epoch_end(self, trainer, epoch: int, metrics: dict): ...
    def on_train_end(self, trainer): ...
    def on_interrupt(self, trainer): ...


# --- the best epoch: stop there, or keep its model ------------------------------------------------------------
class EarlyStopping(Callback):
    """Stop when the best epoch (``trainer.best``, by validation loss) lies ``patience`` epochs back, and put back
    its weights (one copy of the flat parameter vector per improvement)."""

    def __init__(self, patience: int = 5, restore_best: bool = True):
        if patience < 1:
            raise ValueError(f"patience must be at least 1 epoch, got {patience}")
        self.patience, self.restore_best = int(patience), restore_best
        self.best_values = None

    def on_train_begin(self, trainer):
        if trainer.best.monitor != "val_loss":
            raise ValueError("early stopping watches the validation loss, which needs validation data")

    def on_epoch_end(self, trainer, epoch, metrics):
        if trainer.best.improved and self.restore_best:
            self.best_values = trainer.model.parameters.values.copy()
        if epoch - trainer.best.epoch >= self.patience:
            trainer.stop_training = True

    def on_train_end(self, trainer):
        if self.restore_best and self.best_values is not None:
            trainer.model.parameters.values[...] = self.best_values
            trainer.history.restored_best = True

    def state_dict(self):
        return ({"best_values": self.best_values} if self.best_values is not None else {}), {}

    def load_state_dict(self, arrays, values):
        saved = arrays.get("best_values")
        self.best_values = to_device(saved) if saved is not None else None


class BestModel(Callback):
    """Hands the model to ``save(model)`` after every epoch that is the best so far (``trainer.best``)."""

    def __init__(self, save):
        self.save = save

    def on_epoch_end(self, trainer, epoch, metrics):
        if trainer.best.improved:
            self.save(trainer.model)


# --- what a run records ---------------------------------------------------------------------------------------
class MetricsLog(Callback):
    """Hands the History's per-epoch metrics (a list of dicts, every epoch so far) to ``save`` after each epoch,
    so an interrupted run keeps what it measured and a resumed one continues the same list."""

    def __init__(self, save):
        self.save = save

    def on_epoch_end(self, trainer, epoch, metrics):
        self.save(trainer.history.epochs)


class StepLog(Callback):
    """The loss and learning rate of every step (two list appends per step), in ``record``:
    ``{"steps_per_epoch": S, "loss": [...], "lr": [...]}``; handed to ``save`` (if given) after every epoch.

    The losses are device scalars until the epoch ends (or a checkpoint is taken), then read in one transfer."""

    def __init__(self, save=None):
        self.save = save
        self.record = {"steps_per_epoch": 0, "loss": [], "lr": []}
        self._pending = []       # this epoch's losses, still on the device

    def on_train_begin(self, trainer):
        self.record["steps_per_epoch"] = trainer.steps_per_epoch

    def on_batch_end(self, trainer, step, loss):
        self._pending.append(loss)
        self.record["lr"].append(trainer.optimizer.rate)

    def _read(self) -> None:
        if self._pending:
            self.record["loss"] += to_floats(self._pending)
            self._pending = []

    def on_epoch_end(self, trainer, epoch, metrics):
        self._read()
        if self.save is not None:
            self.save(self.record)

    def on_interrupt(self, trainer):
        self._read()

    def state_dict(self):
        self._read()
        return {}, {"loss": self.record["loss"], "lr": self.record["lr"]}

    def load_state_dict(self, arrays, values):
        self.record["loss"], self.record["lr"] = list(values["loss"]), list(values["lr"])


def _norm(a):
    """The Euclidean norm of a flat array, as a float64 device scalar (infinite, without a warning, when the
    float32 sum of squares overflows: weights that are blowing up, which the diagnosis then reports)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return xp.sqrt(xp.dot(a, a).astype(xp.float64))


def _ratio(update, weight):
    """``||dW|| / ||W||`` (NaN, without a warning, when both are infinite)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return update / xp.maximum(weight, 1e-12)


class LayerStats(Callback):
    """The health of each layer, cheaply, in ``record``; handed to ``save`` (if given) after every epoch:

        {"steps": [...], "weights": {name: {"weight_norm", "grad_norm", "update_ratio"}},
         "dead": {"epochs": [...], relu_name: [...]}}

    Every ``every`` steps, for each weight array (a parameter with weight decay): its norm, its gradient's norm and
    ``update_ratio = ||W_t - W_(t-1)|| / ||W_(t-1)||`` (one snapshot of the flat parameters the step before; a
    healthy run keeps it near 1e-3). After every epoch, on ``probe`` (a fixed validation batch): the fraction of
    each ReLU layer's units, those inside residual blocks included, that output zero for every image.

    ``every`` is at most ``max_every``, and smaller for short runs so that they too get ~100 points. The norms
    are computed on the device and kept there until the epoch ends (or a checkpoint is taken), then read in one
    transfer; the snapshot is a copy on the device.
    """

    def __init__(self, probe=None, save=None, max_every: int = 50):
        self.probe, self.save, self.max_every = probe, save, int(max_every)
        self.every = self.max_every
        self.record = {"steps": [], "weights": {}, "dead": {"epochs": []}}
        self._before = None
        self._pending = []       # (list to extend, device scalar), in the order they were measured

    def on_train_begin(self, trainer):
        total = trainer.epochs * trainer.steps_per_epoch
        self.every = max(2, min(self.max_every, total // 100))   # 2 at least: a snapshot, then a record

    def on_batch_end(self, trainer, step, loss):
        done = trainer.epochs_done * trainer.steps_per_epoch + trainer.epoch_step
        params = trainer.model.parameters
        if done % self.every == self.every - 1:
            self._before = params.values.copy()
        elif done % self.every == 0 and self._before is not None:
            self.record["steps"].append(done)
            for name, span, decayed in zip(params.names, params.slices, params.decays):
                if not decayed:
                    continue
                w, old = params.values[span], self._before[span]
                stats = self.record["weights"].setdefault(name, {"weight_norm": [], "grad_norm": [],
                                                                 "update_ratio": []})
                self._pending += [(stats["weight_norm"], _norm(w)), (stats["grad_norm"], _norm(params.grads[span])),
                                  (stats["update_ratio"], _ratio(_norm(w - old), _norm(old)))]
            self._before = None

    def _read(self) -> None:
        """Append the measured device scalars to their lists (one transfer)."""
        if self._pending:
            for (target, _), value in zip(self._pending, to_floats(value for _, value in self._pending)):
                target.append(value)
            self._pending = []

    def on_epoch_end(self, trainer, epoch, metrics):
        self._read()
        if self.probe is not None:
            dead = self.record["dead"]
            dead["epochs"].append(epoch)
            fractions = [(layer.name, 1.0 - (out > 0).any(axis=0).mean())
                         for layer, out in trainer.model.trace(self.probe) if isinstance(layer, (ReLU, LeakyReLU))]
            for (name, _), value in zip(fractions, to_floats(fraction for _, fraction in fractions)):
                dead.setdefault(name, []).append(value)
        if self.save is not None:
            self.save(self.record)

    def on_interrupt(self, trainer):
        self._read()

    def state_dict(self):
        self._read()
        arrays = {"before": self._before} if self._before is not None else {}
        return arrays, {"record": self.record}

    def load_state_dict(self, arrays, values):
        self.record = values["record"]
        saved = arrays.get("before")
        self._before = to_device(saved) if saved is not None else None


# --- what a person watching sees ------------------------------------------------------------------------------
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
    """A bar over each epoch's batches with the running loss, on a terminal or in a notebook (``tqdm.auto``
    chooses); none where stderr is a file or a pipe (``disable=None``), so logs stay clean."""

    def __init__(self, file=None, every: int = 20):
        self.file, self.every, self.bar = file or sys.stderr, every, None

    def on_epoch_begin(self, trainer, epoch):
        self.bar = tqdm(total=trainer.steps_per_epoch, desc=f"epoch {epoch}/{trainer.epochs}", unit="batch",
                        leave=False, file=self.file, disable=None, dynamic_ncols=True)

    def on_batch_end(self, trainer, step, loss):
        if (step + 1) % self.every == 0 or step + 1 == trainer.steps_per_epoch:
            self.bar.update(step + 1 - self.bar.n)
            # the trainer's running loss as last read from the device (every trainer.read_every steps)
            self.bar.set_postfix_str(f"loss {trainer.running_loss:.4f}", refresh=False)

    def on_epoch_end(self, trainer, epoch, metrics):
        self.bar.close()

    def on_interrupt(self, trainer):
        if self.bar is not None:
            self.bar.close()


def format_duration(seconds: float) -> str:
    """``42s``, ``3m 05s``, ``1h 02m``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


class EpochLog(Callback):
    """One line per epoch: loss, train and validation accuracy, learning rate, seconds, and, while epochs remain,
    the time the rest of the run will take at the pace of the epochs so far (``~3m 05s left``; on a loaded
    machine the pace is the loaded one, which a fixed hint in the documentation cannot know)."""

    def __init__(self, file=None):
        self.file = file or sys.stdout

    def on_epoch_end(self, trainer, epoch, metrics):
        width = len(str(trainer.epochs))
        line = f"epoch {epoch:>{width}}/{trainer.epochs}  {format_metrics(metrics)}"
        remaining = trainer.epochs - epoch
        seconds = [m["seconds"] for m in trainer.history.epochs if "seconds" in m]
        if remaining > 0 and seconds:
            line += f"  ~{format_duration(remaining * sum(seconds) / len(seconds))} left"
        tqdm.write(line, file=self.file)


def standard_callbacks(*, patience: int | None = None, bar: bool = False, lines: bool = False,
                       file=None) -> list[Callback]:
    """The callbacks ``Sequential.fit`` and ``matnet train`` both add, in their order: early stopping (with
    ``patience``), the progress bar, the epoch lines (to ``file``)."""
    made = []
    if patience:
        made.append(EarlyStopping(patience=patience))
    if bar:
        made.append(ProgressBar())
    if lines:
        made.append(EpochLog(file=file))
    return made


def check_order(callbacks: list[Callback]) -> None:
    """A ValueError when a callback comes before one it ``requires`` (or without it)."""
    for i, callback in enumerate(callbacks):
        for needed in callback.requires:
            if not any(other is needed for other in callbacks[:i]):
                where = "after it" if any(other is needed for other in callbacks) else "missing from the list"
                raise ValueError(f"{type(callback).__name__} reads what {type(needed).__name__} records, which is "
                                 f"{where}: put {type(needed).__name__} first")


def batch_bar(verbose: int, desc: str):
    """What ``Network.forward_batches`` takes as ``progress``: with ``verbose=1``, a bar over the batches when there
    are more than ``BAR_MIN_BATCHES`` (on a terminal or in a notebook, none where stderr is a file); else None."""
    if verbose != 1:
        return None

    def wrap(starts):
        if len(starts) <= BAR_MIN_BATCHES:
            return starts
        return tqdm(starts, desc=desc, unit="batch", leave=False, file=sys.stderr, disable=None, dynamic_ncols=True)
    return wrap
