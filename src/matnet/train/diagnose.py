"""When training goes wrong, say why: checks of the classic pitfalls, each with its evidence and a concrete fix.

A finding is a dict ``{"kind", "title", "epoch", "step", "evidence", "fix"}``; ``fix`` names the flag to change.
The checks read what a run records anyway (the per-epoch metrics, :class:`~matnet.train.callbacks.LayerStats`'
record) plus a fixed probe batch, so they cost next to nothing:

    diverged               the loss became NaN/inf: the step, the first layer whose output is not finite on the
                           probe batch, and the cause: a linear output under MSE (``--output``), the learning
                           rate (``--lr``) or exploding gradients (``--clip-norm``)
    inputs_not_normalised  pixel values up to 255 reach the first layer (``pixel / 255``)
    at_chance              accuracy at chance after an epoch; which usual cause holds: inputs, dead ReLUs,
                           vanishing gradients, a learning rate far off, or labels that do not match the images
                           (a nearest-class-mean classifier on the probe batch is at chance too)
    vanishing_gradients    ||grad W_first|| / ||grad W_last|| < 1e-3 (exploding: > 1e3), naming init and activation
    dead_relus             more than half of a ReLU layer's units never fire on the probe batch
    update_ratio           every layer's ||dW|| / ||W|| above 5e-2 or below 1e-5 for 10+ records (healthy: ~1e-3)
    overfitting            validation loss rising for 3 epochs while the train/validation gap grows
    underfitting           training accuracy below 90% and flat (< 0.5 points gained per epoch) for 3 epochs

:class:`Diagnose` is the callback that runs them during training and prints each finding once, when it first
applies; a healthy run gets no finding. :func:`diagnose_run` runs the file-based ones on a finished run folder.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from matnet.backend import to_numpy
from matnet.nn.activations import ACTIVATIONS, Sigmoid
from matnet.nn.dense import Dense
from matnet.optim.optimizers import Adam
from matnet.terminal import shown
from matnet.train.callbacks import Callback

__all__ = ["Diagnose", "diagnose_run", "format_finding", "check_inputs", "check_gradients", "check_dead",
           "check_update_ratio", "check_fit", "labels_learnable"]

VANISH, EXPLODE = 1e-3, 1e3          # first/last layer gradient-norm ratio
RATIO_HIGH, RATIO_LOW = 5e-2, 1e-5   # update / weight ratio, healthy ~1e-3
MIN_RECORDS = 10                     # "for many steps": LayerStats records (~100 per run)
UNDERFIT_ACC, FLAT = 0.90, 0.005     # training accuracy below, gained per epoch below
CHANCE_MARGIN = 0.05                 # accuracy within this of 1 / classes is "at chance"


def _finding(kind, title, evidence, fix, epoch=None, step=None) -> dict:
    return {"kind": kind, "title": title, "epoch": epoch, "step": step, "evidence": evidence, "fix": fix}


def format_finding(finding: dict) -> str:
    """``diagnosis: TITLE (epoch E)`` and two indented lines: the evidence, the fix."""
    where = f" (epoch {finding['epoch']}" + (f", step {finding['step']})" if finding.get("step") else ")") \
        if finding.get("epoch") else ""
    return (f"diagnosis: {shown(finding['title'])}{where}\n  evidence: {shown(finding['evidence'])}\n"
            f"  fix: {shown(finding['fix'])}")


def describe_model(model) -> dict:
    """The activation and initialisation in use, e.g. ``{"activation": "sigmoid", "init": "xavier_normal"}``."""
    names = {cls: name for name, cls in ACTIVATIONS.items()}
    acts = sorted({names[type(layer)] for layer in model.all_layers() if type(layer) in names})
    inits = sorted({layer.init for layer in model.all_layers() if isinstance(layer, Dense)})
    return {"activation": ",".join(acts) or "none", "init": ",".join(inits) or "default"}


# --- the checks, on records -----------------------------------------------------------------------------------
def check_inputs(probe) -> dict | None:
    """Pixel values of 0..255 (not 0..1) reaching the first layer."""
    if probe is None:
        return None
    top = float(np.abs(to_numpy(probe)).max())
    if top <= 1.5:
        return None
    return _finding("inputs_not_normalised", "inputs are not normalised",
                    f"input values reach {top:.4g} (pixels scaled to [0, 1] stay below 1); the first layer's "
                    "pre-activations are ~255x too large", "divide the images by 255 (matnet.data.prepare does: "
                    "use its splits), or lower --lr a lot")


def _weights(layer_stats: dict | None) -> list[tuple[str, dict]]:
    return list((layer_stats or {}).get("weights", {}).items())


def _recent(values: list, since: int) -> list:
    return [v for v in values[since:] if v is not None and math.isfinite(v)]


def check_gradients(layer_stats: dict | None, model_info: dict | None = None, since: int = 0) -> dict | None:
    """Vanishing or exploding gradients: the median ratio of the first weight's gradient norm to the last's."""
    weights = _weights(layer_stats)
    if len(weights) < 3:
        return None
    (first, a), (last, b) = weights[0], weights[-1]
    ratios = [x / y for x, y in zip(_recent(a["grad_norm"], since), _recent(b["grad_norm"], since)) if y > 0]
    if len(ratios) < 3:
        return None
    ratio = float(np.median(ratios))
    info = model_info or {}
    used = f"activation {info.get('activation', '?')}, initialisation {info.get('init', '?')}, {len(weights)} layers"
    if ratio < VANISH:
        return _finding("vanishing_gradients", "vanishing gradients",
                        f"||grad {first}|| / ||grad {last}|| = {ratio:.2g} (median of {len(ratios)} records; "
                        f"healthy ~0.1-10); {used}: each sigmoid/tanh layer and small weights shrink the gradient",
                        "--activation relu (He initialisation), fewer layers (--layers), or a larger initialisation")
    if ratio > EXPLODE:
        return _finding("exploding_gradients", "exploding gradients",
                        f"||grad {first}|| / ||grad {last}|| = {ratio:.2g} (median of {len(ratios)} records); {used}",
                        "--clip-norm 1, a lower --lr, or fewer layers (--layers)")
    return None


def check_dead(layer_stats: dict | None) -> dict | None:
    """More than half of a ReLU layer's units output zero for every probe image (after the latest epoch)."""
    dead = (layer_stats or {}).get("dead", {})
    worst = {name: fractions[-1] for name, fractions in dead.items() if name != "epochs" and fractions}
    bad = {name: f for name, f in worst.items() if f > 0.5}
    if not bad:
        return None
    listed = ", ".join(f"{name} {100 * f:.0f}%" for name, f in bad.items())
    return _finding("dead_relus", "dead ReLUs", f"units that never fire on the probe batch: {listed}",
                    "a lower --lr, --activation leaky_relu, or --clip-norm 1")


def check_update_ratio(layer_stats: dict | None, since: int = 0, low: bool = True) -> dict | None:
    """Every layer's update/weight ratio far from ~1e-3 for MIN_RECORDS records or more; ``low=False`` skips
    "too low" (while a schedule is taking the learning rate down on purpose)."""
    medians = {}
    for name, stats in _weights(layer_stats):
        values = _recent(stats["update_ratio"], since)
        if len(values) < MIN_RECORDS:
            return None
        medians[name] = float(np.median(values))
    if not medians:
        return None
    listed = ", ".join(f"{name} {m:.1g}" for name, m in medians.items())
    if all(m > RATIO_HIGH for m in medians.values()):
        return _finding("update_ratio", "learning rate too high", f"update/weight ratio per step (healthy ~1e-3): "
                        f"{listed}", "lower --lr (about 10x)")
    if low and all(m < RATIO_LOW for m in medians.values()):
        return _finding("update_ratio", "learning rate too low", f"update/weight ratio per step (healthy ~1e-3): "
                        f"{listed}", "raise --lr (about 10-100x); 'matnet lr-find' suggests one")
    return None


def check_fit(metrics: list[dict], classes: int = 10) -> dict | None:
    """Overfitting (validation loss up 3 epochs running while the accuracy gap grows) or underfitting
    (training accuracy low and flat for 3 epochs, above chance)."""
    if len(metrics) >= 4 and all({"acc", "val_loss", "val_acc"} <= m.keys() for m in metrics[-4:]):
        last = metrics[-4:]
        rising = all(b["val_loss"] > a["val_loss"] for a, b in zip(last, last[1:]))
        gaps = [m["acc"] - m["val_acc"] for m in last]
        if rising and gaps[-1] > gaps[0] and gaps[-1] > 0.01 and last[-1]["loss"] < last[0]["loss"]:
            return _finding("overfitting", "overfitting",
                            f"validation loss rose {last[0]['val_loss']:.4f} -> {last[-1]['val_loss']:.4f} over 3 "
                            f"epochs while training loss fell to {last[-1]['loss']:.4f}; accuracy gap "
                            f"{100 * gaps[0]:.1f} -> {100 * gaps[-1]:.1f} points",
                            "--patience 3 (early stopping), --dropout 0.2, a larger --weight-decay, --augment, or "
                            "fewer epochs", epoch=last[-1]["epoch"])
    if len(metrics) >= 3 and all("acc" in m for m in metrics[-3:]):    # (a record written by hand may lack it)
        accs = [m["acc"] for m in metrics[-3:]]
        gained = (accs[-1] - accs[0]) / 2
        if 1 / classes + CHANCE_MARGIN < accs[-1] < UNDERFIT_ACC and gained < FLAT:
            return _finding("underfitting", "underfitting",
                            f"training accuracy {100 * accs[-1]:.1f}%, +{100 * gained:.2f} points per epoch over "
                            f"the last 2 epochs: the model cannot fit even the training set",
                            "more capacity (wider/more --layers, or --model cnn), less --dropout and "
                            "--weight-decay, or more --epochs", epoch=metrics[-1]["epoch"])
    return None


def labels_learnable(x, y, classes: int) -> float:
    """The accuracy of a nearest-class-mean classifier fitted on one half of (x, y) and scored on the other: well
    above chance for real images and their labels (~80% on MNIST), at chance for labels that do not belong to
    the images."""
    x = to_numpy(x).reshape(len(x), -1).astype(np.float64)
    y = to_numpy(y)
    y = y.argmax(axis=1) if y.ndim == 2 else y.astype(np.int64)
    half = len(x) // 2
    present = np.unique(y[:half])
    means = np.stack([x[:half][y[:half] == c].mean(axis=0) for c in present])
    test = x[half:]
    d = (test ** 2).sum(1)[:, None] - 2 * test @ means.T + (means ** 2).sum(1)[None, :]
    return float((present[d.argmin(axis=1)] == y[half:]).mean())


# --- the callback ---------------------------------------------------------------------------------------------
class Diagnose(Callback):
    """Runs the checks during training; prints each finding once (to ``file``), keeps them in ``findings`` and
    hands the list to ``save`` (if given) whenever it grows.

    ``probe``/``probe_labels``: a fixed batch (validation images) for the input and label checks and for tracing
    a divergence; ``layer_stats``: the run's :class:`LayerStats` callback, whose record the gradient, dead-ReLU and
    update-ratio checks read (without it they are skipped). LayerStats adds the epoch's dead-unit figures in its
    own ``on_epoch_end``, so this callback ``requires`` it: the trainer refuses a list that puts it first). The
    loss becoming NaN makes the
    trainer raise ``TrainingDiverged``; call :meth:`diverged` then (``matnet.run`` does) to record why."""

    def __init__(self, probe=None, probe_labels=None, layer_stats=None, save=None, file=None):
        self.probe, self.probe_labels, self.layer_stats = probe, probe_labels, layer_stats
        self.save, self.file = save, file
        self.findings: list[dict] = []
        self._since = 0
        self.requires = (layer_stats,) if layer_stats is not None else ()

    def report(self, finding: dict | None, trainer=None) -> None:
        if finding is None or any(f["kind"] == finding["kind"] for f in self.findings):
            return
        if trainer is not None and finding.get("epoch") is None:
            finding["epoch"] = trainer.epochs_done + (1 if trainer.epoch_step else 0) or 1
        self.findings.append(finding)
        print(format_finding(finding), file=self.file or sys.stdout, flush=True)
        if self.save is not None:
            self.save(self.findings)

    def _record(self):
        return self.layer_stats.record if self.layer_stats is not None else None

    def on_train_begin(self, trainer):
        self.report(check_inputs(self.probe), trainer)
        if self.save is not None:
            self.save(self.findings)   # an empty list: the run was checked

    def on_epoch_end(self, trainer, epoch, metrics):
        record, info = self._record(), describe_model(trainer.model)
        classes = trainer.model.output_shapes[-1][0]
        gradients = check_gradients(record, info)
        peak = max(m.get("lr", 0.0) for m in trainer.history.epochs)
        ratio = check_update_ratio(record, self._since, low=metrics.get("lr", 0.0) >= 0.5 * peak) \
            if gradients is None else None
        for finding in (gradients, check_dead(record), ratio):
            if finding is not None:
                finding["epoch"] = epoch
            self.report(finding, trainer)
        self._at_chance(trainer, epoch, metrics, classes)
        if not self._has("at_chance"):
            self.report(check_fit(trainer.history.epochs, classes), trainer)
        if record is not None:
            self._since = len(record["steps"])

    def _has(self, kind: str) -> bool:
        return any(f["kind"] == kind for f in self.findings)

    def _at_chance(self, trainer, epoch, metrics, classes):
        acc = max(metrics["acc"], metrics.get("val_acc", 0.0))
        if acc > 1 / classes + CHANCE_MARGIN or self._has("at_chance"):
            return
        evidence = f"accuracy {100 * acc:.1f}% after epoch {epoch} (chance: {100 / classes:.0f}%)"
        for kind in ("inputs_not_normalised", "dead_relus", "vanishing_gradients", "exploding_gradients",
                     "update_ratio", "diverged"):
            if self._has(kind):   # a cause with its own finding: that finding says it
                return
        if self.probe is not None and self.probe_labels is not None and len(self.probe) >= 10 * classes:
            score = labels_learnable(self.probe, self.probe_labels, classes)
            if score < 1 / classes + CHANCE_MARGIN:
                self.report(_finding(
                    "at_chance", "accuracy at chance: the labels do not match the images",
                    f"{evidence}; inputs normalised, ReLUs alive, gradients and update sizes normal; a nearest-"
                    f"class-mean classifier on the probe batch is at chance too ({100 * score:.1f}%; real labels "
                    "give far more): the labels are permuted or belong to other images",
                    "check how the labels were loaded and paired with the images (and --dataset)", epoch=epoch))
                return
        relu = any(type(layer).__name__ == "ReLU" for layer in trainer.model.all_layers())
        warmup = getattr(getattr(trainer.optimizer, "schedule", None), "warmup", 0.0)
        if warmup > trainer.epochs:     # the rate never reached its peak: say so before anything else
            evidence += f"; the warm-up ({warmup:g} epochs) is longer than the run ({trainer.epochs})"
        fix = "try 'matnet lr-find' for --lr" + ("" if relu else ", and --activation relu")
        if warmup > trainer.epochs:
            fix = f"a warm-up shorter than the run (--warmup below {trainer.epochs}), or more --epochs; then {fix}"
        self.report(_finding("at_chance", "accuracy at chance",
                             f"{evidence}; none of the usual causes (inputs, labels, dead ReLUs, gradients, "
                             "learning rate) shows", fix, epoch=epoch))

    def diverged(self, trainer, error=None) -> dict:
        """Record why the loss became NaN/inf: the step, the first layer with a non-finite output on the probe
        batch (or parameter), and the cause with the flag to change; returns the finding."""
        bad = trainer.totals.first_bad            # the step the trainer's read found first non-finite
        epoch, step = trainer.epochs_done + 1, (bad if isinstance(bad, int) and bad >= 0 else trainer.epoch_step) + 1
        where = "no layer output is non-finite on the probe batch (the loss overflowed)"
        bad_params = [name for name, span in zip(trainer.model.parameters.names, trainer.model.parameters.slices)
                      if not np.isfinite(to_numpy(trainer.model.parameters.values[span])).all()]
        if self.probe is not None:
            with np.errstate(all="ignore"):
                for layer, out in trainer.model.trace(self.probe):
                    if not np.isfinite(to_numpy(out)).all():
                        where = f"the first layer with a non-finite output is {layer.name} ({type(layer).__name__})"
                        break
        if bad_params:
            where += f"; first non-finite parameter: {bad_params[0]}"
        lr = trainer.optimizer.rate
        usual = 0.01 if isinstance(trainer.optimizer, Adam) else 1.0   # far above what these optimizers take
        grads = [stats["grad_norm"] for _, stats in _weights(self._record())]
        growth = max((g[-1] / g[0] for g in grads if len(g) >= 2 and g[0] > 0), default=None)
        if getattr(trainer.model, "outputs_scores", False) and not isinstance(trainer.model.layers[-1], Sigmoid):
            cause = ("a linear output under MSE: nothing bounds the outputs, and MSE's gradient grows with them "
                     f"(2 (a - y) / (N C)), so at learning rate {lr:.3g} each step overshoots further than the last",
                     f"--output sigmoid (or softmax), which keeps the outputs in (0, 1), or --loss cross-entropy; "
                     f"a linear output needs a far lower --lr (try {lr / 100:.3g})")
        elif lr <= usual and growth is not None and growth > 100:
            cause = (f"exploding gradients (a gradient norm grew {growth:.0f}x before it), at learning rate {lr:.3g}",
                     f"--clip-norm 1, or a lower --lr (now {lr:.3g})")
        else:
            cause = (f"the learning rate {lr:.3g} is too high for {type(trainer.optimizer).__name__}: the steps "
                     "overshoot and the weights blow up",
                     f"a lower --lr (now {lr:.3g}; try {lr / 100:.3g}, or 'matnet lr-find'), or --clip-norm 1")
        finding = _finding("diverged", "the loss became NaN/infinite",
                           f"at epoch {epoch}, step {step}; {where}; likely cause: {cause[0]}", cause[1],
                           epoch=epoch, step=step)
        self.report(finding)
        return finding


def diagnose_run(run) -> list[dict]:
    """The findings for a finished run (a :class:`matnet.runfolder.RunData`): those recorded while it trained
    (its diagnosis file), then the file-based checks on its metrics and layer statistics, each kind once."""
    findings = list(getattr(run, "diagnosis", None) or [])
    kinds = {f["kind"] for f in findings}
    classes = len(run.classes) if (run.model is not None or run.probabilities is not None) else 10
    info = describe_model(run.model) if run.model is not None else None
    extra = [check_gradients(run.layer_stats, info), check_dead(run.layer_stats)]
    if "at_chance" not in kinds:
        extra.append(check_fit(run.metrics, classes))
    for finding in extra:
        if finding is not None and finding["kind"] not in kinds:
            findings.append(finding)
            kinds.add(finding["kind"])
    return findings

