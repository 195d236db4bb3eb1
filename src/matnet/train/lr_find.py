"""The learning-rate range test (Smith, 2017; the fast.ai "lr finder").

From ``start`` (1e-6) the learning rate grows by the same factor every step, up to ``end`` over ``steps`` steps
(a few hundred mini-batches), while the loss of each batch is recorded and smoothed (an exponential moving
average with bias correction, ``beta = 0.98``). The test stops once the smoothed loss exceeds ``diverge`` (4) times
the best one seen, or becomes NaN.

The suggestion depends on the kind of optimizer (``rule="auto"``):

- SGD, momentum, Nesterov: a tenth of the rate at the minimum of the smoothed loss. At the minimum the rate is
  already as large as training tolerates (beyond it the loss rises and diverges); a tenth of it sits on the
  descending part of the curve, fast and still stable. On MNIST's default MLP with momentum: 0.061 (the tuned
  default is 0.1); the steepest-descent rate, 0.024-0.030, is over 3x too low.
- Adam, AdamW: the rate at the steepest descent of the smoothed loss (per factor of lr). Adam scales each step
  by the gradient's running size, so its loss stays near its minimum over a wide plateau of rates and the
  minimum lies far above a good rate: minimum/10 gives 0.0078, 8x the tuned 1e-3; the steepest descent gives
  0.0012-0.0014.

The smoothed loss lags the batch loss: at step ``k`` the bias-corrected average's weights have a mean age of
``sum_j j beta^j / sum_j beta^j`` (j = 0..k) steps, about ``beta / (1 - beta) = 49`` once ``k`` is large, which at
300 steps over 1e-6..10 is a factor of ~14 in the rate. So its minimum sits where the batch loss already rises,
and both rules above were tuned on the lagged curve. Correcting the lag (the minimum moved back by that age, or a
zero-lag forward-backward average) was measured and kept out: with minimum / 10 (steepest for Adam) on the
corrected curve, one epoch on 20,000 images trained worse on every setting tried (test accuracy, old vs shifted
vs zero-lag: MLP with momentum 92.2% vs 78.1% vs 87.8%; plain SGD 84.4% vs 27.7% vs 56.2%; Adam, steepest,
92.0% vs zero-lag 87.8%; the cnn preset 95.6% vs shifted 89.7%; 2026-12-06). The plot says the lag instead
(``lag``: the mean age at the minimum, in steps).

No single one of the two rules lands within 3x of both tuned defaults (min/10 is 8x high for Adam, steepest 3-4x
low for momentum), hence the split. Both rates are reported (``minimum``, ``steepest``).

Each step is the trainer's own (``train_step``). The test runs its own optimizer: a new one of the caller's kind
and settings, whose ``lr`` is ``start`` and whose schedule is the shape ``range_schedule`` (an exponential growth
of that ``lr``, reaching ``end`` at the last step; the step number stands for progress). The caller's optimizer is
not touched. The model's weights and buffers and the random generators of its layers (Dropout's masks) are taken
and put back with the trainer's own ``state_dict`` / ``load_state_dict``: nothing of the test survives it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from matnet.backend import to_host
from matnet.fileio import atomic_path
from matnet.optim.optimizers import Adam
from matnet.optim.schedules import Schedule
from matnet.train.batches import BatchIterator
from matnet.train.trainer import Trainer, train_step

__all__ = ["LRFindResult", "Smoother", "lr_find", "plot_lr_find", "range_schedule", "suggest"]


@dataclass
class LRFindResult:
    """The rates tried, each batch's loss, the smoothed loss, and the suggested rate (see the module docstring)."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float
    minimum: float        # the rate at the lowest smoothed loss
    steepest: float       # the rate where the smoothed loss falls fastest (per factor of lr)
    stopped: str          # why the test ended: "diverged" or "end"
    lag: float = 0.0      # how many steps the smoothed loss lags the batch loss at its minimum (module docstring)
    warning: str | None = None   # why the suggestion may be rough (too few steps), or None

    def as_dict(self) -> dict:
        return {"suggestion": self.suggestion, "minimum": self.minimum, "steepest": self.steepest,
                "stopped": self.stopped, "lag": self.lag, "steps": len(self.lrs), "lr": self.lrs, "loss": self.losses,
                "smoothed": self.smoothed, "warning": self.warning}


# Below this many steps the rate grows too fast for the smoothed loss (beta = 0.98 averages ~50 steps) to follow
# it: on MNIST's MLP, 60-150 steps suggested 0.029-0.053 for momentum where 300 suggest 0.061 (tuned: 0.1), and
# Adam's 0.0037-0.011 where 300 suggest 0.0014. (Scaling beta to the steps was tried: the momentum figure got worse.)
SETTLED_STEPS = 200


def range_schedule(start: float, end: float, steps: int) -> Schedule:
    """The test's schedule, a shape: the rate at step ``k`` (from 0) is ``lr * (end / start) ** (k / (steps - 1))``,
    which for the test's ``lr = start`` runs from ``start`` to ``end``."""
    return Schedule("exp", gamma=(end / start) ** (1 / (steps - 1)))


class Smoother:
    """The exponential moving average with bias correction, one value at a time: after values ``v_0 .. v_k``,
    ``sum_j (1 - beta) beta^j v_(k-j) / (1 - beta^(k+1))``."""

    def __init__(self, beta: float):
        self.beta, self.average, self.k = beta, 0.0, 0

    def add(self, value: float) -> float:
        self.average = self.beta * self.average + (1 - self.beta) * value
        self.k += 1
        return self.average / (1 - self.beta ** self.k)

    def lag(self, k: int) -> float:
        """The mean age, in steps, of the average's weights at step ``k`` (from 0): ``sum_j j beta^j / sum_j beta^j``
        over j = 0..k; 0 at step 0, towards ``beta / (1 - beta)`` as k grows."""
        weights = self.beta ** np.arange(k + 1)
        return float(weights @ np.arange(k + 1) / weights.sum())


def suggest(lrs, smoothed, rule: str) -> tuple[float, int, int]:
    """``(suggestion, low, steep)`` from the smoothed curve: ``low`` the step of its minimum, ``steep`` the step where
    it falls fastest per factor of lr (the first 10 steps skipped: the average is still settling), and the
    suggestion ``lrs[low] / 10`` (``rule="minimum"``) or ``lrs[steep]`` (``"steepest"``)."""
    curve = np.asarray(smoothed)
    low = int(curve.argmin())
    skip = min(10, low)
    slopes = np.gradient(curve, np.log(lrs))
    steep = skip + int(slopes[skip:low + 1].argmin()) if low > skip else low
    return (lrs[steep] if rule == "steepest" else lrs[low] / 10), low, steep


def lr_find(model, optimizer, x, y, *, start: float = 1e-6, end: float = 10.0, steps: int = 300,
            batch_size: int = 128, beta: float = 0.98, diverge: float = 4.0, seed: int = 0,
            loss=None, rule: str = "auto") -> LRFindResult:
    """Run the range test of the module docstring on ``model``, with an optimizer of ``optimizer``'s kind and settings
    (``optimizer`` itself is left as it is), over mini-batches of (x, y); returns an :class:`LRFindResult`.
    x: (N, *input_shape), y: (N,).
    ``rule``: "auto" (see the module docstring), "minimum" (minimum / 10) or "steepest"."""
    if rule not in ("auto", "minimum", "steepest"):
        raise ValueError(f"rule must be auto, minimum or steepest, got {rule!r}")
    if not 0 < start < end:
        raise ValueError(f"the range must satisfy 0 < start < end, got {start} and {end}")
    if steps < 10:
        raise ValueError(f"the test needs at least 10 steps, got {steps}")
    probe = type(optimizer)(**{**optimizer.config(), "lr": start}, schedule=range_schedule(start, end, steps))
    trainer = Trainer(model, optimizer=probe, loss=loss, batch_size=batch_size, seed=seed)
    saved = trainer.state_dict()
    batches = BatchIterator(x, y, batch_size, shuffle=True, rng=trainer.rng)
    lrs, losses, smoothed = [], [], []
    smoother, best, stopped = Smoother(beta), math.inf, "end"
    try:
        k = 0
        while k < steps and stopped == "end":
            for xb, yb in batches:
                if k == steps:
                    break
                # read every step (a transfer on a GPU): the test stops as soon as the loss runs away
                value = to_host(train_step(model, trainer.loss, probe, xb, yb, progress=k)[0])
                if not math.isfinite(value):
                    stopped = "diverged"
                    break
                smooth = smoother.add(value)
                lrs.append(probe.rate), losses.append(float(value)), smoothed.append(float(smooth))
                best = min(best, smooth)
                if smooth > diverge * best:
                    stopped = "diverged"
                    break
                k += 1
    finally:
        trainer.load_state_dict(*saved)
    if len(smoothed) < 10:
        raise ValueError(f"the loss diverged after {len(smoothed)} steps, at lr {lrs[-1] if lrs else start:.3g}: "
                         "start the range lower")
    if rule == "auto":
        rule = "steepest" if isinstance(optimizer, Adam) else "minimum"
    suggestion, low, steep = suggest(lrs, smoothed, rule)
    warning = None
    if steps < SETTLED_STEPS:
        warning = (f"{steps} steps are too few for the smoothed loss to settle (the rate grows {end / start:.0e}-fold "
                   f"over them): the suggestion is rough; use {SETTLED_STEPS} steps or more (300 by default)")
    return LRFindResult(lrs, losses, smoothed, suggestion=suggestion, minimum=lrs[low], steepest=lrs[steep],
                        stopped=stopped, lag=smoother.lag(low), warning=warning)


def plot_lr_find(result: LRFindResult, path) -> None:
    """The batch and smoothed loss against the learning rate (log scale), the suggestion and the smoothed minimum
    marked, the smoothed curve's lag said in its label; a PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(result.lrs, result.losses, color="0.8", lw=0.8, label="batch loss")
    back = max(0, result.lrs.index(result.minimum) - round(result.lag))
    ax.plot(result.lrs, result.smoothed, color="C0", lw=1.8,
            label=f"smoothed loss: lags {result.lag:.0f} steps ({result.minimum / result.lrs[back]:.2g}x in lr)")
    ax.axvline(result.suggestion, color="C3", ls="--", label=f"suggested lr {result.suggestion:.2g}")
    ax.axvline(result.minimum, color="0.5", ls=":",
               label=f"its minimum {result.minimum:.2g} (the batch loss rises there already)")
    ax.set_xscale("log")
    ax.set_ylim(0, min(max(result.smoothed) * 1.1, 4 * min(result.smoothed) + 1))
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss")
    ax.set_title("learning-rate range test")
    ax.legend(loc="upper left")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
