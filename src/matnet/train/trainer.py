"""The training loop: mini-batch gradient descent with a schedule, clipping, validation and callbacks.

Per step (``train_step``, which the learning-rate range test runs too):
           augment the batch (if asked);  logits = model(x_batch);  L = loss(logits, y_batch);
           model.backward(dL/dlogits);  clip the gradient's global norm (if asked);
           optimizer.step(parameters, t), at the optimizer's rate for progress t (its schedule's, if it has one)
Per epoch: validation loss and accuracy; the metrics to the History and the best-epoch tracker, then to every
           callback; then the checkpoint (if asked), which thus holds the callbacks' state after this epoch.

A step makes no device-to-host transfer (on a GPU, each would make the host wait for the device): the loss, the
running totals and the first step whose loss was not finite stay device scalars, read together every
``read_every`` steps (for the progress bar) and at the end of the epoch. A loss that became NaN is therefore
noticed at the next read, and reported with the step where it first appeared.

The loop's position is ``(epochs_done, epoch_step)``: epochs finished, and steps done in the epoch in progress
(the optimizer's ``t`` counts every step of the run). ``state_dict()`` captures everything the rest of the run depends
on at that position (weights, optimizer state, every random generator, the partial epoch's totals, the history,
the best epoch), so a run resumed from it with ``load_state_dict`` continues with exactly the numbers it would
have had.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from matnet.backend import random_state, set_random_state, to_device, to_floats, xp
from matnet.errors import MatnetError
from matnet.nn.losses import SoftmaxCrossEntropy, model_loss
from matnet.optim.clip import clip_grad_norm
from matnet.optim.optimizers import Adam, Optimizer
from matnet.optim.schedules import Schedule
from matnet.train.batches import BatchIterator
from matnet.train.callbacks import Callback, check_order
from matnet.train.checkpoint import save_checkpoint
from matnet.train.interrupt import deferred_sigint
from matnet.train.metrics import correct_count, evaluate

__all__ = ["BestEpoch", "History", "StepRecord", "Trainer", "TrainingDiverged", "TrainingInterrupted", "train_step"]


def check_learns(optimizer: Optimizer, epochs: int, steps_per_epoch: int) -> None:
    """A MatnetError when the optimizer's rate (its schedule's) is 0 at every step of the run: a run of one step
    with the cosine schedule, whose last step is at progress ``epochs``, where cosine reaches 0. (Steps run at the
    progress they end at, ``epoch - 1 + k / steps_per_epoch``, as in ``Trainer._run_epoch``.)"""
    steps = range(1, steps_per_epoch + 1)
    if any(optimizer.rate_at(epoch + k / steps_per_epoch) > 0 for epoch in range(epochs) for k in steps):
        return
    kind = getattr(optimizer.schedule, "kind", None)
    n = epochs * steps_per_epoch
    raise MatnetError(f"{'the ' + kind + ' schedule gives' if kind else 'the learning rate is'} 0 at "
                      f"{'the only step' if n == 1 else f'every one of the {n} steps'} of this run, which would "
                      f"learn nothing: use more steps (a smaller batch size or more epochs) or another schedule")


class StepRecord:
    """What one training step computed, kept for looking at it (``matnet serve``'s step-through): the batch ``x``
    (after augmentation) and ``y``, each layer's output (``outputs``) and the gradient of each layer's output
    (``output_grads``), both by layer name, the loss, and copies of the parameters and their gradients
    (``"layer.key"``) as they were just before the optimizer's update (after clipping). Nothing is recomputed:
    these are the arrays of ``train_step`` itself."""

    def __init__(self):
        self.x = self.y = self.loss = None
        self.batch = None                # the rows of the training set (its caller may say which)
        self.outputs: dict = {}
        self.output_grads: dict = {}
        self.params: dict = {}
        self.grads: dict = {}

    def keep(self, model) -> None:
        for layer in model.all_layers():
            for key in layer.params:
                self.params[f"{layer.name}.{key}"] = layer.params[key].copy()
                self.grads[f"{layer.name}.{key}"] = layer.grads[key].copy()


def train_step(model, loss, optimizer, xb, yb, *, progress: float, augment=None, clip_norm: float | None = None,
               record: StepRecord | None = None):
    """One step of the module docstring on the batch (xb, yb), ``progress`` epochs into training; returns
    ``(L, logits)``, both on the device (nothing is read back). ``record``, if given, keeps what the step computed
    (``StepRecord``; copies cost time, so only a step that is looked at is recorded)."""
    if augment is not None:
        xb = augment(xb)
    outputs, output_grads = (None, None) if record is None else (record.outputs, record.output_grads)
    logits = model.forward(xb, training=True, seen=outputs)
    value = loss.forward(logits, yb)
    model.backward(loss.backward(), seen=output_grads)
    params = model.parameters
    if clip_norm is not None:
        clip_grad_norm(params.grads, clip_norm)
    if record is not None:
        record.x, record.y, record.loss = xb, yb, value
        record.keep(model)
    optimizer.step(params, progress)
    return value, logits


class TrainingDiverged(MatnetError):
    """The loss became NaN or infinite. ``stopped`` says where (``message`` adds the usual advice), so that a
    caller who found the cause (``matnet.train.diagnose.Diagnose.diverged``) can give that advice instead."""

    def __init__(self, message: str, stopped: str | None = None):
        super().__init__(message)
        self.stopped = stopped or message


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped at a step boundary (Ctrl-C, or a callback raising KeyboardInterrupt); callbacks have
    seen ``on_interrupt`` and the checkpoint (if asked for) holds this exact position."""

    def __init__(self, epoch: int, step: int):
        super().__init__(f"interrupted in epoch {epoch} after step {step}")
        self.epoch, self.step = epoch, step


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


@dataclass
class BestEpoch:
    """The epoch with the lowest ``monitor`` so far (``val_loss``, or ``loss`` when there is no validation data);
    ``improved`` says whether the epoch that just ended is it."""

    monitor: str = "val_loss"
    value: float | None = None
    epoch: int | None = None
    improved: bool = False

    def update(self, epoch: int, metrics: dict) -> None:
        value = metrics[self.monitor]
        self.improved = self.value is None or value < self.value
        if self.improved:
            self.value, self.epoch = value, epoch


@dataclass
class EpochTotals:
    """The running sums of the epoch in progress (checkpointed, so a resumed epoch counts every step once).

    ``loss_sum``, ``correct`` and ``first_bad`` are device scalars while the epoch runs (or Python numbers, as read
    from a checkpoint); ``read()`` makes them Python numbers with one transfer."""

    loss_sum: float = 0.0      # sum over batches of (mean batch loss x batch size), in float64
    correct: int = 0
    seen: int = 0
    seconds: float = 0.0       # spent in earlier sittings of this epoch (before an interrupt)
    first_bad: int = -1        # the first step (of the epoch, from 0) whose loss was not finite; -1: none

    def add(self, loss, correct, n: int, step: int) -> None:
        self.loss_sum = self.loss_sum + loss.astype(np.float64) * n
        self.correct = self.correct + correct
        self.seen += n
        bad = ~xp.isfinite(loss) & (xp.asarray(self.first_bad) < 0)   # no branch on the device's value
        self.first_bad = xp.where(bad, step, self.first_bad)

    def read(self) -> None:
        """The device scalars as Python numbers (one device-to-host transfer; none when they are numbers already)."""
        if all(isinstance(v, (int, float)) for v in (self.loss_sum, self.correct, self.first_bad)):
            return
        loss_sum, correct, first_bad = to_floats((self.loss_sum, self.correct, self.first_bad))
        self.loss_sum, self.correct, self.first_bad = loss_sum, int(correct), int(first_bad)


class Trainer:
    """Holds what the loop needs; ``fit`` runs it (from its current position) and returns a :class:`History`.

    ``schedule``, if given, is the schedule of the default optimizer (``Adam(schedule=schedule)``), built here. An
    optimizer of yours keeps the schedule you gave it (its owner is you: :mod:`matnet.optim.schedules`), so
    ``optimizer=`` and ``schedule=`` together are refused rather than one overriding the other.
    ``checkpoint`` is a path: the whole state is saved there (atomically) when training starts, after every epoch,
    and where an interrupt stopped it. ``read_every``: steps between reads of the running totals from the
    device (see the module docstring); ``running_loss`` is the mean loss of the epoch at the last read.
    """

    def __init__(self, model, *, optimizer: Optimizer | None = None, loss=None, schedule: Schedule | None = None,
                 epochs: int = 10, batch_size: int = 128, clip_norm: float | None = None, seed: int = 0,
                 callbacks: list[Callback] = (), augment=None, checkpoint: str | Path | None = None,
                 read_every: int = 50):
        if epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {epochs}")
        if clip_norm is not None and clip_norm <= 0:
            raise ValueError(f"clip norm must be positive, got {clip_norm}")
        self.model = model
        if optimizer is not None and schedule is not None:
            raise ValueError(f"schedule= and optimizer= both given: the optimizer owns its schedule, so give it "
                             f"there, e.g. {type(optimizer).__name__}(lr, schedule=...), and leave out schedule=")
        self.optimizer = optimizer if optimizer is not None else Adam(schedule=schedule)
        self.loss = loss or model_loss(model)
        self.epochs, self.batch_size, self.clip_norm = int(epochs), int(batch_size), clip_norm
        self.read_every = max(1, int(read_every))
        self.rng = np.random.default_rng(seed)  # batch order; the model's own seed made its weights
        self.callbacks = list(callbacks)
        check_order(self.callbacks)
        self.augment = augment           # a transform of training batches (with an ``rng``), or None
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.history = History()
        self.best = BestEpoch()
        self.stop_training = False
        self.steps_per_epoch = 0
        self.running_loss = math.nan
        self.epochs_done, self.epoch_step = 0, 0   # the position
        self.totals = EpochTotals()
        self._epoch_rng_state = None     # the batch generator before this epoch's shuffle
        self._consistent = True          # False while a step is half done: no checkpoint then
        self._stop_requested = False
        self.order = None                # this epoch's order of the training rows (None: not shuffled)
        self.record = None               # a StepRecord that the next step fills, or None (see train_step)

    def _emit(self, hook: str, *args) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    def _save_checkpoint(self) -> None:
        if self.checkpoint is not None:
            save_checkpoint(self.checkpoint, self)

    def request_stop(self) -> None:
        """Stop after the current step, with a consistent state (what the first Ctrl-C does)."""
        self._stop_requested = True

    def fit(self, x, y, validation_data=None) -> History:
        self._check_loss_matches_model()
        batches = BatchIterator(x, y, self.batch_size, shuffle=True, rng=self.rng)
        self.steps_per_epoch = len(batches)
        check_learns(self.optimizer, self.epochs, self.steps_per_epoch)
        if self.epoch_step >= self.steps_per_epoch:
            raise MatnetError(f"the saved position (step {self.epoch_step}) does not fit an epoch of "
                              f"{self.steps_per_epoch} steps: was the data or batch size changed?")
        self.best.monitor = "val_loss" if validation_data is not None else "loss"
        with deferred_sigint(self.request_stop):
            try:
                self._emit("on_train_begin")
                self._save_checkpoint()
                while self.epochs_done < self.epochs and not self.stop_training:
                    self._run_epoch(batches, validation_data)
            except KeyboardInterrupt:
                if not self._consistent:
                    raise  # a second Ctrl-C in the middle of a step: leave at once, keep the last checkpoint
                self._emit("on_interrupt")
                self._save_checkpoint()
                raise TrainingInterrupted(self.epochs_done + 1, self.epoch_step) from None
        self.history.best_epoch = self.best.epoch
        self._emit("on_train_end")
        return self.history

    def _run_epoch(self, batches: BatchIterator, validation_data) -> None:
        epoch = self.epochs_done + 1
        if self.epoch_step == 0:
            self._epoch_rng_state = self.rng.bit_generator.state
            self.totals = EpochTotals()
        else:  # resuming part-way: draw this epoch's order again from the generator as it was
            self.rng.bit_generator.state = self._epoch_rng_state
        order = self.order = batches.order()
        self._emit("on_epoch_begin", epoch)
        started = time.perf_counter()
        for xb, yb in batches.batches(order, self.epoch_step):
            self._consistent = False
            with np.errstate(over="ignore", invalid="ignore"):   # a NaN is reported at the next read, once
                loss, logits = train_step(self.model, self.loss, self.optimizer, xb, yb, augment=self.augment,
                                          clip_norm=self.clip_norm, record=self.record,
                                          progress=epoch - 1 + (self.epoch_step + 1) / self.steps_per_epoch)
            self.totals.add(loss, correct_count(logits, yb), len(xb), self.epoch_step)
            self.epoch_step += 1
            self._consistent = True
            if self.epoch_step % self.read_every == 0 or self.epoch_step == self.steps_per_epoch:
                self._read_totals()
            self._emit("on_batch_end", self.epoch_step - 1, loss)
            if self._stop_requested:
                self.totals.seconds += time.perf_counter() - started
                raise KeyboardInterrupt
        metrics = {"epoch": epoch, "loss": self.totals.loss_sum / self.totals.seen,
                   "acc": self.totals.correct / self.totals.seen}
        self.model.forget()   # the last step's cached arrays are not needed again: free them before evaluating
        if validation_data is not None:
            val = evaluate(self.model, *validation_data, loss=self.loss)
            metrics.update(val_loss=val["loss"], val_acc=val["accuracy"])
        metrics.update(lr=self.optimizer.rate, seconds=self.totals.seconds + time.perf_counter() - started)
        self.history.epochs.append(metrics)
        self.best.update(epoch, metrics)
        self.epochs_done, self.epoch_step = epoch, 0
        self._emit("on_epoch_end", epoch, metrics)
        self._save_checkpoint()

    def _read_totals(self) -> None:
        """Read the running totals off the device; a loss that was not finite stops training here."""
        self.totals.read()
        self.running_loss = self.totals.loss_sum / self.totals.seen
        if self.totals.first_bad >= 0:
            stopped = (f"the loss became nan or infinite at epoch {self.epochs_done + 1}, step "
                       f"{self.totals.first_bad + 1}: training stopped")
            raise TrainingDiverged(f"{stopped}; try a lower learning rate (now {self.optimizer.rate:.3g}) or "
                                   f"gradient clipping", stopped)

    # --- checkpoints -------------------------------------------------------------------------------------
    def _stateful_callbacks(self) -> dict:
        named = {}
        for callback in self.callbacks:
            if hasattr(callback, "state_dict"):
                key = type(callback).__name__
                named[key if key not in named else f"{key}_{len(named)}"] = callback
        return named

    def _generators(self) -> dict:
        found = {layer.name: layer.rng for layer in self.model.all_layers() if getattr(layer, "rng", None) is not None}
        if self.augment is not None:
            found["augment"] = self.augment.rng
        return found

    def state_dict(self) -> tuple[dict, dict]:
        """``(arrays, values)`` at the current position; ``values`` is JSON-ready."""
        self.totals.read()
        opt_arrays, opt_values = self.optimizer.state_dict()
        arrays = {"params": self.model.parameters.values.copy(),
                  **{f"optimizer.{key}": a.copy() for key, a in opt_arrays.items()},
                  **{f"buffer.{name}": a.copy() for name, a in self.model.buffers().items()}}
        values = {
            "epochs_done": self.epochs_done, "step": self.epoch_step, "totals": asdict(self.totals),
            "best": asdict(self.best),
            "batch_rng": self._epoch_rng_state if self.epoch_step else self.rng.bit_generator.state,
            "layer_rngs": {name: random_state(rng) for name, rng in self._generators().items()},
            "optimizer": {"type": type(self.optimizer).__name__, **opt_values},
            "history": self.history.epochs, "callbacks": {},
        }
        for key, callback in self._stateful_callbacks().items():
            cb_arrays, cb_values = callback.state_dict()
            arrays.update({f"callback.{key}.{name}": a for name, a in cb_arrays.items()})
            values["callbacks"][key] = cb_values
        return arrays, values

    def load_state_dict(self, arrays: dict, values: dict) -> None:
        """Put back what ``state_dict`` gave (a checkpoint's arrays and values). A state that training cannot have
        made (a generator's state out of range, a missing entry, a number of the wrong type) is one MatnetError,
        never half put back as if it were good."""
        try:
            self._load_state(arrays, values)
        except MatnetError:
            raise
        except (KeyError, TypeError, ValueError, OverflowError, IndexError, AttributeError) as err:
            raise MatnetError(f"the checkpoint's saved state is damaged ({type(err).__name__}: {str(err)[:200]}); "
                              f"train the run again") from None

    def _load_state(self, arrays: dict, values: dict) -> None:
        params = self.model.parameters
        if arrays["params"].shape != params.values.shape:
            raise MatnetError(f"the checkpoint holds {arrays['params'].size:,} parameters, the model has "
                              f"{params.values.size:,}")
        if values["optimizer"]["type"] != type(self.optimizer).__name__:
            raise MatnetError(f"the checkpoint was made with {values['optimizer']['type']}, not "
                              f"{type(self.optimizer).__name__}")
        params.values[...] = to_device(arrays["params"])
        for name, buffer in self.model.buffers().items():
            buffer[...] = to_device(arrays[f"buffer.{name}"])
        self.optimizer.load_state_dict({k.split(".", 1)[1]: to_device(a) for k, a in arrays.items()
                                        if k.startswith("optimizer.")}, values["optimizer"])
        self.epochs_done, self.epoch_step = int(values["epochs_done"]), int(values["step"])
        self.totals = EpochTotals(**values["totals"])
        self.best = BestEpoch(**values["best"])
        if self.epoch_step:
            self._epoch_rng_state = values["batch_rng"]
        else:
            self.rng.bit_generator.state = values["batch_rng"]
        for name, rng in self._generators().items():
            set_random_state(rng, values["layer_rngs"][name])
        self.history.epochs = list(values["history"])
        for key, callback in self._stateful_callbacks().items():
            prefix = f"callback.{key}."
            callback.load_state_dict({k[len(prefix):]: a for k, a in arrays.items() if k.startswith(prefix)},
                                     values["callbacks"].get(key, {}))

    def _check_loss_matches_model(self):
        if isinstance(self.loss, SoftmaxCrossEntropy) and self.model.ends_in_softmax:
            raise ValueError("the model ends in Softmax, but SoftmaxCrossEntropy takes logits (it applies softmax "
                             "itself): remove the final Softmax layer")
