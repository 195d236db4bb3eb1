"""Live training for ``matnet serve``: one network trained step by step in a background thread, that a page (or a
script) starts, runs, pauses, steps once and looks into.

The training is ``matnet train``'s own: the same data preparation (``run.prepare_run``), the same trainer
(``run.make_trainer``) and so the same ``train_step``, batch order and numerics. Same settings and seed, same
weights after the same number of steps. The trainer runs in its own thread; a callback (``_Gate``) holds it at
each step boundary until it is allowed more steps (``run``, ``step``), so pausing never leaves a step half done.

One step can be *recorded* (``step()``): the trainer fills a :class:`~matnet.train.trainer.StepRecord` with the
arrays that step computed (each layer's output and output gradient, the parameters and gradients before the
update), and ``step_view`` lays them out per Dense layer as the matrices of the formulas:

    forward   Z = A_prev @ W.T + b,  A = act(Z),  P = softmax(Z_L)
    backward  dZ_L = (P - Y) / m,  dW = dZ.T @ A_prev,  db = dZ summed over rows,  dA_prev = dZ @ W,
              dZ_prev = dA_prev * act'(Z_prev)
    update    W_new = W - lr * dW  (SGD; momentum and Adam as their docstrings say)

``check`` compares one entry of ``dW`` or ``db`` with central differences, in float64, on the same batch.
"""

from __future__ import annotations

import copy
import io
import math
import threading
import time

import numpy as np

from matnet.backend import to_numpy
from matnet.config import TrainConfig, config_toml
from matnet.errors import MatnetError
from matnet.nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh, softmax
from matnet.nn.dense import Dense
from matnet.nn.losses import model_loss
from matnet.reports.report import write_report
from matnet.run import finish_run, make_trainer, prepare_run
from matnet.runfolder import RunFolder
from matnet.serve.inputs import BadRequest
from matnet.train.callbacks import Callback
from matnet.train.diagnose import Diagnose, format_finding
from matnet.train.metrics import evaluate
from matnet.train.trainer import StepRecord, TrainingDiverged, TrainingInterrupted

__all__ = ["LiveSession", "Sessions", "SessionError", "LossLog", "MAX_LIVE_PARAMS", "step_view", "IDLE_SECONDS",
           "VAL_IMAGES", "MAX_BATCH", "MAX_WEIGHT_ROWS", "MAX_HISTORY_POINTS"]

IDLE_SECONDS = 60.0   # a session no request has touched for this long ends (its page is gone)
VAL_IMAGES = 500      # the fixed slice of validation images the live accuracy is measured on
VAL_EVERY_S = 0.5     # seconds between two measurements of it while running (the page polls about as often)
MAX_BATCH = 1024
MAX_LIVE_PARAMS = 1_000_000   # 784-128-64-10 has 109,386; one step of the largest is about 12 MB as base64
EXPLODED_LOSS = 1e3           # a cross-entropy this high means the steps overshoot (chance on 10 classes: 2.3)
MAX_WEIGHT_ROWS = 256  # rows of a weight matrix one ``weights`` answer holds at most
ACTIVATIONS = (ReLU, LeakyReLU, Sigmoid, Tanh)
MAX_HISTORY_POINTS = 5000     # losses one ``history`` answer holds at most (more new steps: every k-th of them)


class LossLog:
    """Every step's batch loss, step k's at index k - 1 of a float32 array that doubles when full: 4 bytes a step
    (a session's longest, 100 epochs of batches of 1, is 5 million steps: 20 MB; a list of (step, loss) tuples
    took about 25 times that)."""

    def __init__(self):
        self._values = np.empty(1024, np.float32)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, value: float) -> None:
        if self._n == len(self._values):
            self._values = np.concatenate([self._values, np.empty_like(self._values)])
        self._values[self._n] = value
        self._n += 1

    def __getitem__(self, k: int) -> float:
        """The loss of the (k+1)-th step (``k`` counted from 0, negative from the end)."""
        return float(self._values[:self._n][k])

    def points(self, since: int = 0, limit: int = MAX_HISTORY_POINTS) -> list[list]:
        """``[step, loss]`` for the steps after ``since``, at most ``limit`` of them: when more are new, every k-th
        (k = ceil(new / limit)), the last step always among them."""
        n = self._n
        steps = np.arange(since + 1, n + 1)
        if len(steps) > limit:
            k = -(-len(steps) // limit)
            steps = steps[::-1][::k][::-1]       # counted back from the last step, so that it is kept
        return [[int(step), float(loss)] for step, loss in zip(steps, self._values[steps - 1])]


class SessionError(BadRequest, MatnetError):
    """A command the session cannot take now: a MatnetError in Python, and for the server a BadRequest whose
    ``status`` (409 unless said) it answers with."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(status, message)


class _Gate(Callback):
    """Holds the trainer at each step boundary until the session allows another step."""

    def __init__(self, session: "LiveSession"):
        self.session = session

    def on_train_begin(self, trainer):
        self.session._wait()

    def on_batch_end(self, trainer, step, loss):
        self.session._stepped(trainer, step, loss)
        if trainer.epochs_done + 1 < trainer.epochs or step + 1 < trainer.steps_per_epoch:
            self.session._wait()        # the last step of the last epoch is let through: training ends


class LiveSession:
    """A network trained live from ``config`` (an MLP; the dataset must be in the local cache).

    Commands (any thread): ``run(steps)``, ``pause()``, ``step()`` (one recorded step, answered with its arrays),
    ``set_lr(lr)`` (from the next step on), ``check(layer, param, index)``, ``status()``, ``close()``. The trainer's
    thread starts paused."""

    def __init__(self, config: TrainConfig, *, session_id: str = "1"):
        if config.model != "mlp":
            raise MatnetError("live training takes an MLP (model = 'mlp')")
        if not 1 <= config.batch_size <= MAX_BATCH:
            raise MatnetError(f"batch size must be 1 to {MAX_BATCH:,}, got {config.batch_size}")
        config.check()
        self.id, self.config = session_id, config
        self.dataset, self.splits, self.model = prepare_run(config, progress=False, download=False)
        if self.model.num_params > MAX_LIVE_PARAMS:   # every step is sent to the page, its W three times over
            raise SessionError(f"live training takes networks of at most {MAX_LIVE_PARAMS:,} parameters, so that a "
                               f"step can be shown; {'-'.join(map(str, config.layers))} has "
                               f"{self.model.num_params:,} (matnet train takes it)", 422)
        held = self.splits.x_val if len(self.splits.x_val) else self.splits.x_train
        labels = self.splits.y_val if len(self.splits.x_val) else self.splits.y_train
        self.val_x, self.val_y = held[:VAL_IMAGES], labels[:VAL_IMAGES]
        test_y = to_numpy(self.splits.y_test)   # the fixed sample digits: the first test image of each class
        self.sample_index = np.array([np.flatnonzero(test_y == k)[0] for k in range(10) if (test_y == k).any()])
        self.sample_x = self.splits.x_test[self.sample_index]
        self.sample_y = test_y[self.sample_index]
        self.trainer = make_trainer(config, self.model, self.dataset.image_shape, callbacks=[_Gate(self)])
        self.trainer.read_every = 1        # every step's loss is shown: the trainer's NaN check runs at each
        self.steps = 0                     # steps taken
        self.losses = LossLog()                          # every step's batch loss
        self.accuracy: list[tuple[int, float]] = []      # (step, accuracy on the validation slice)
        self.error: str | None = None      # why training stopped by itself (diverged), or None
        self.diagnosis: list[dict] = []    # what went wrong, as ``matnet diagnose`` says it
        self.finished = False              # every epoch done
        self.started = time.monotonic()
        self.touched = self.started        # the last command's time (see IDLE_SECONDS)
        self._cond = threading.Condition()
        self._allowed = 0                  # steps the trainer may take before it waits
        self._closing = False
        self._waiting = False              # the trainer is at a step boundary, waiting for the next step
        self._lr: float | None = None      # a learning rate to set before the next step
        self.last: StepRecord | None = None   # the last recorded step (``step()``), for ``check``
        self._measure()
        self._thread = threading.Thread(target=self._train, name=f"matnet-live-{session_id}", daemon=True)
        self._thread.start()

    # --- the trainer's thread ------------------------------------------------------------------------------
    def _train(self):
        x, y = self.splits.x_train, self.splits.y_train
        try:
            self.trainer.fit(x, y)
            self.finished = True
        except TrainingDiverged as err:   # the loss became NaN: the trainer's words, then the CLI's diagnosis
            finding = Diagnose(self.val_x, self.val_y, file=io.StringIO()).diverged(self.trainer)
            self.diagnosis.append(finding)
            self.error = f"{err}. {format_finding(finding)}".replace("\n ", ";")
        except TrainingInterrupted:
            pass
        except Exception as err:  # noqa: BLE001 - a session's failure is reported by status(), not lost
            self.error = f"{type(err).__name__}: {err}"
        finally:
            with self._cond:
                self._allowed = 0
                self._cond.notify_all()

    def _stepped(self, trainer, step, loss):
        if trainer.record is not None:   # the rows of the training set this step used
            size, start = len(trainer.record.y), step * trainer.batch_size
            order = trainer.order
            trainer.record.batch = np.arange(start, start + size) if order is None else \
                to_numpy(order[start:start + size])
        done = self.steps + 1             # counted last: whoever sees the new count sees its figures too
        value = float(to_numpy(loss))
        self.losses.append(value)
        if value > EXPLODED_LOSS and not self.error:
            self._exploded(done, value)
        if self._allowed == 0 or time.monotonic() - self._measured > VAL_EVERY_S:
            self._measure(done)
        self.steps = done

    def _exploded(self, step: int, value: float) -> None:
        """The loss has blown up without (yet) being NaN: say so in the diagnosis's words and stop training."""
        lr, first = self.trainer.optimizer.rate, self.losses[0]
        finding = {"kind": "diverged", "title": "the loss exploded", "epoch": self.trainer.epochs_done + 1,
                   "step": step, "evidence": f"the batch loss reached {value:.3g} at step {step} (it began at "
                                            f"{first:.3g}): the steps overshoot and the weights blow up",
                   "fix": f"a lower learning rate (now {lr:.3g}; try {lr / 100:.3g}), then Reset"}
        self.diagnosis.append(finding)
        self.error = f"the loss exploded to {value:.3g} at step {step}. {format_finding(finding)}".replace("\n ", ";")
        self._closing = True            # the trainer stops at this step's boundary

    def _measure(self, step: int = 0):
        accuracy = evaluate(self.model, self.val_x, self.val_y)["accuracy"]
        self.accuracy.append((step, float(accuracy)))
        self._measured = time.monotonic()

    def _wait(self):
        """At a step boundary: wait until another step is allowed (or the session closes: then stop here)."""
        with self._cond:
            self._waiting = True
            self._cond.notify_all()
            while (self._allowed == 0 or self.idle) and not self._closing:
                if self.idle:              # running or not, nobody is watching: stop here
                    self._closing = True
                    break
                self._cond.wait(timeout=1.0)
            self._waiting = False
            if self._closing:
                raise KeyboardInterrupt
            self._allowed -= 1
            if self._lr is not None:
                self.trainer.optimizer.lr, self._lr = self._lr, None

    # --- commands --------------------------------------------------------------------------------------------
    def touch(self) -> None:
        """A request about this session came (its page is still there)."""
        self.touched = time.monotonic()

    @property
    def idle(self) -> bool:
        """No request for IDLE_SECONDS: the page is gone (the trainer stops at its next step boundary)."""
        return time.monotonic() - self.touched > IDLE_SECONDS

    @property
    def running(self) -> bool:
        return self._allowed > 0 and self._thread.is_alive()

    def _usable(self):
        self.touch()
        if not self._thread.is_alive():
            why = self.error or ("every epoch is done" if self.finished else "the session was closed")
            raise SessionError(f"training session {self.id} has stopped: {why}")

    def run(self, steps: int) -> None:
        """Let the trainer take ``steps`` more steps in the background."""
        if not 1 <= steps <= 1_000_000:
            raise SessionError(f"steps must be 1 to 1,000,000, got {steps}", 422)
        with self._cond:
            self._usable()
            self._allowed = steps
            self._cond.notify_all()

    def _at_boundary(self) -> None:
        """Wait (holding the lock's condition) until the trainer waits at a step boundary or has stopped."""
        while not self._waiting and self._thread.is_alive():
            self._cond.wait(timeout=1.0)

    def pause(self) -> None:
        """Stop at the next step boundary; returns once the trainer is there."""
        with self._cond:
            self.touch()
            self._allowed = 0
            self._at_boundary()

    def set_lr(self, lr: float) -> None:
        """The learning rate from the next step on (a schedule, if any, scales it as before)."""
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise SessionError(f"lr must be a finite number > 0, got {lr}", 422)
        with self._cond:
            self._usable()
            self._lr = float(lr)

    def step(self, rows: int = 16) -> dict:
        """Take one step, recorded, and answer with it (``step_view``); refused while running."""
        with self._cond:
            self._usable()
            if self._allowed:
                raise SessionError(f"training session {self.id} is running: pause it before stepping")
            self._at_boundary()
            self._usable()
            target = self.steps + 1
            self.trainer.record = record = StepRecord()
            self._allowed = 1
            self._cond.notify_all()
            while self.steps < target and self._thread.is_alive():
                self._cond.wait(timeout=1.0)
            self.trainer.record = None
        if self.steps < target:
            self._usable()     # says why the trainer stopped
        self.last = record
        return step_view(self, record, rows=rows)

    def status(self) -> dict:
        self.touch()
        trainer = self.trainer
        return {"id": self.id, "step": self.steps, "epoch": trainer.epochs_done + 1 if not self.finished
                else trainer.epochs_done, "epochs": self.config.epochs,
                "steps_per_epoch": trainer.steps_per_epoch, "running": self.running,
                "lr": self._lr if self._lr is not None else trainer.optimizer.lr,
                "loss": self.losses[-1] if len(self.losses) else None,
                "val_accuracy": self.accuracy[-1][1] if self.accuracy else None,
                "finished": self.finished, "error": self.error, "diagnosis": self.diagnosis,
                "config": self.settings()}

    def _dense(self, layer: int) -> Dense:
        dense = [one for one in self.model.layers if isinstance(one, Dense)]
        if not 0 <= layer < len(dense):
            raise SessionError(f"layer must be 0 to {len(dense) - 1} (the Dense layers in order), got {layer}", 422)
        return dense[layer]

    def weights(self, layer: int = 0, rows: int = 32) -> dict:
        """The current ``W`` (out x in) and ``b`` of Dense layer ``layer`` (counted from 0), its first ``rows`` rows:
        copies read while the trainer may be updating them (a row can be one step ahead of another; nothing waits
        for the step boundary, so that watching never slows training)."""
        self.touch()
        dense = self._dense(layer)
        W, b = to_numpy(dense.params["W"]), to_numpy(dense.params["b"])
        return {"step": self.steps, "layer": layer, "name": dense.name, "shape": list(W.shape),
                "W": W[:rows].copy(), "b": b[:rows].copy()}

    def samples(self) -> dict:
        """The fixed test digits (the first test image of each class) and what the network makes of them now.
        An evaluation-mode forward only reads the network (it keeps nothing for a backward pass), so it can run
        beside the trainer without disturbing it."""
        self.touch()
        step = self.steps
        probabilities = self.model.predict_proba(self.sample_x)
        return {"step": step, "index": [int(i) for i in self.sample_index], "label": [int(k) for k in self.sample_y],
                "images": to_numpy(self.sample_x).reshape(len(self.sample_index), -1),
                "predicted": [int(k) for k in probabilities.argmax(axis=1)], "probabilities": probabilities}

    def settings(self) -> dict:
        c = self.config
        return {"layers": list(c.layers), "activation": c.activation, "optimizer": c.optimizer, "lr": c.lr,
                "batch_size": c.batch_size, "seed": c.seed, "epochs": c.epochs, "schedule": c.schedule,
                "init": c.init, "loss": c.loss, "output": c.output, "label_smoothing": c.label_smoothing}

    def check(self, layer: int, param: str, index: list[int], h: float = 1e-5) -> dict:
        """One entry of the last recorded step's ``dW`` or ``db`` against central differences of the loss, both in
        float64 on that step's batch with the weights as they were before its update."""
        record = self.last
        if record is None:
            if not self._thread.is_alive():
                self._usable()     # stopped before any step was recorded: says why (no step can be taken now)
            raise SessionError("no step recorded yet: take one step first")
        name = self._dense(layer).name
        if param not in ("W", "b"):
            raise SessionError(f"param must be 'W' or 'b', got {param!r}", 422)
        shape = record.params[f"{name}.{param}"].shape
        if len(index) != len(shape) or not all(0 <= i < n for i, n in zip(index, shape)):
            raise SessionError(f"index must be within {list(shape)}, got {index}", 422)
        net = copy.deepcopy(self.model).astype(np.float64)
        for one in net.all_layers():
            for key in one.params:
                one.params[key][...] = to_numpy(record.params[f"{one.name}.{key}"]).astype(np.float64)
        x = to_numpy(record.x).astype(np.float64)
        y = to_numpy(record.y)
        loss = model_loss(net)
        target = next(one for one in net.layers if one.name == name).params[param]
        where = tuple(index)

        def value() -> float:
            return float(to_numpy(loss.forward(net.forward(x, training=True), y)))

        value()
        net.backward(loss.backward())
        analytic = float(to_numpy(next(one for one in net.layers if one.name == name).grads[param][where]))
        saved = float(target[where])
        target[where] = saved + h
        up = value()
        target[where] = saved - h
        down = value()
        target[where] = saved
        numeric = (up - down) / (2 * h)
        relative = abs(numeric - analytic) / max(abs(numeric), abs(analytic), 1e-12)
        return {"layer": layer, "name": name, "param": param, "index": list(index), "numeric": numeric,
                "analytic": analytic, "step_analytic": float(to_numpy(record.grads[f"{name}.{param}"][where])),
                "relative_error": relative, "h": h}

    def save(self, path) -> dict:
        """Write the session as a run folder at ``path`` (a new folder): the settings, the metrics of the epochs
        finished, the final model, the test predictions, the summary and the report, as ``matnet train`` would
        have; refused while it runs (pause first). Returns the summary. ``matnet report``, ``evaluate``,
        ``predict``, ``export`` and the draw view then work on it."""
        with self._cond:
            self.touch()
            if self._allowed:
                raise SessionError(f"training session {self.id} is running: pause it before saving")
            if self.error or not np.isfinite(to_numpy(self.model.parameters.values)).all():
                raise SessionError(f"training session {self.id} diverged: its weights are not worth keeping "
                                   f"(a lower learning rate, then Reset)")
            self._at_boundary()
            folder = RunFolder(path)
            folder.create()
            folder.write_config(config_toml(self.config))
            folder.write_metrics(self.trainer.history.epochs)
            if self.diagnosis:
                folder.write_diagnosis(self.diagnosis)
            summary = finish_run(folder, self.config, self.model, self.splits, self.trainer)
            summary["steps"] = self.steps
        write_report(folder.path, progress=False)
        return summary

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=30)


def _rows(a, rows: int) -> np.ndarray:
    return to_numpy(a)[:rows]


def step_view(session: LiveSession, record: StepRecord, *, rows: int = 16) -> dict:
    """The recorded step as matrices, one entry per Dense layer in order: ``name``, ``input`` (the layer whose
    output is ``A_prev``, or ``"x"``), ``activation``, ``W`` (out x in, as matnet stores it), ``b``, ``Z``, ``A``
    (the activation's output; for the last layer the softmax ``P``, or a linear output's ``Z`` under MSE), ``dZ``,
    ``dW``, ``db`` and ``W_new`` (after the optimizer's update). Arrays with a batch axis (``x``, ``Z``, ``A``,
    ``dZ``) keep their first ``rows`` rows; ``dW`` and ``db`` are the whole batch's. NumPy arrays, float32."""
    model, trainer = session.model, session.trainer
    layers = model.layers
    size = len(record.batch)
    out = {"step": session.steps, "epoch": trainer.epochs_done + 1, "loss": float(to_numpy(record.loss)),
           "lr": float(trainer.optimizer.rate), "optimizer": session.config.optimizer, "batch": record.batch,
           "batch_size": size, "rows": min(rows, size), "x": _rows(record.x, rows), "y": _rows(record.y, rows),
           "layers": []}
    source = "x"
    for i, layer in enumerate(layers):
        if not isinstance(layer, Dense):
            if not isinstance(layer, ACTIVATIONS):
                source = layer.name
            continue
        after = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(after, ACTIVATIONS):
            activation, a = type(after).__name__, record.outputs[after.name]
        elif model.outputs_scores:         # a linear output under MSE: its scores are its output
            activation, a = "Linear", record.outputs[layer.name]
        else:
            activation, a = "Softmax", softmax(record.outputs[layer.name], axis=1)   # a Softmax layer's or the loss's
        out["layers"].append({
            "name": layer.name, "input": source, "activation": activation,
            "W": to_numpy(record.params[f"{layer.name}.W"]), "b": to_numpy(record.params[f"{layer.name}.b"]),
            "Z": _rows(record.outputs[layer.name], rows), "A": _rows(a, rows),
            "dZ": _rows(record.output_grads[layer.name], rows),
            "dW": to_numpy(record.grads[f"{layer.name}.W"]), "db": to_numpy(record.grads[f"{layer.name}.b"]),
            "W_new": to_numpy(layer.params["W"]).copy(), "b_new": to_numpy(layer.params["b"]).copy()})
        source = after.name if isinstance(after, ACTIVATIONS) else layer.name
    return out


class Sessions:
    """The live sessions of one server: at most one at a time (a stopped or abandoned one gives way)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.current: LiveSession | None = None
        self.made = 0

    def start(self, config: TrainConfig) -> LiveSession:
        with self.lock:
            old = self.current
            if old is not None and old._thread.is_alive() and not old.idle:
                raise SessionError(f"training session {old.id} is live (step {old.steps}); end it first with "
                                      f"DELETE /api/train/{old.id}")
            self.made += 1
            session_id = str(self.made)
        if old is not None:
            old.close()
        try:
            session = LiveSession(config, session_id=session_id)
        except SessionError:
            raise
        except MatnetError as err:
            status = 503 if "not in the local cache" in str(err) or "matnet data fetch" in str(err) else 422
            raise SessionError(str(err), status) from None
        with self.lock:
            self.current = session
        return session

    def get(self, session_id: str) -> LiveSession:
        session = self.current
        if session is None or session.id != session_id:
            raise SessionError(f"no training session {session_id!r}", 404)
        return session

    def end(self, session_id: str) -> None:
        session = self.get(session_id)
        with self.lock:
            if self.current is session:
                self.current = None
        session.close()

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
