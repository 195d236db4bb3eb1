"""Learning-rate schedules: the rate as a function of training progress ``t``, in epochs (fractional: ``t = 2.5``
is half-way through the third epoch), so a schedule reads the same whatever the batch size.

A schedule is a shape, not a rate: ``schedule(t, lr)`` scales the optimizer's own ``lr`` (the one owner of the
learning rate), and the optimizer is given the schedule (``Momentum(0.1, schedule=make_schedule("cosine",
epochs=30))``); without one, the optimizer's ``lr`` holds at every step.

    constant     lr(t) = lr
    step         lr(t) = lr * gamma^floor(t / step_size)
    exp          lr(t) = lr * gamma^t
    cosine       lr(t) = f lr + (lr - f lr) * (1 + cos(pi * (t - w) / (T - w))) / 2     (w: warm-up; f: the floor)

Every parameter of a schedule is a shape: cosine's floor ``min_fraction`` (``f``) is a fraction of ``lr``, so
the same schedule on a rate twice as large gives rates twice as large, at every step.

Linear warm-up, optional for every schedule, multiplies by ``min(1, t / w)`` over the first ``w`` epochs:
large early steps from random weights are what makes training diverge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Schedule", "SCHEDULES", "make_schedule"]

SCHEDULES = ("constant", "step", "exp", "cosine")


@dataclass(frozen=True)
class Schedule:
    """``schedule(t, lr)``: the rate at ``t`` epochs into training, for an optimizer whose rate is ``lr``."""

    kind: str = "constant"
    epochs: float = 1.0        # T, the total length (cosine)
    warmup: float = 0.0        # w, epochs of linear warm-up
    gamma: float = 0.1         # step and exp decay factor
    step_size: float = 10.0    # epochs between step decays
    min_fraction: float = 0.0  # cosine's floor, as a fraction of lr (0.01: the rate ends at lr / 100)

    def __post_init__(self):
        if self.kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.kind!r}; choose one of {', '.join(SCHEDULES)}")
        if not 0 <= self.warmup < math.inf:
            raise ValueError(f"warm-up must be a number of epochs >= 0, got {self.warmup}")
        if not 0.0 <= self.min_fraction <= 1.0:
            raise ValueError(f"the cosine floor min_fraction is a fraction of lr, in [0, 1], got {self.min_fraction}")

    def __call__(self, t: float, lr: float) -> float:
        base = lr
        if self.kind == "constant":
            lr = base
        elif self.kind == "step":
            lr = base * self.gamma ** math.floor(t / self.step_size)
        elif self.kind == "exp":
            lr = base * self.gamma ** t
        else:
            span = max(self.epochs - self.warmup, 1e-12)
            progress = min(max((t - self.warmup) / span, 0.0), 1.0)
            floor = self.min_fraction * base
            lr = floor + (base - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
        if self.warmup > 0 and t < self.warmup:
            lr *= t / self.warmup
        return lr


def make_schedule(kind: str, epochs: float, warmup: float = 0.0, *, lr=None, **options) -> Schedule:
    """Defaults that suit ``epochs``: a step decay of 0.1 at a third of the run, an exp decay reaching 1% at its end.
    The rate itself is the optimizer's (``lr`` here is refused, so that no second rate can hide one)."""
    if lr is not None:
        raise TypeError("make_schedule takes no lr: the learning rate belongs to the optimizer, which is given the "
                        "schedule, e.g. Momentum(lr=0.1, schedule=make_schedule('cosine', epochs=30))")
    if kind == "step":
        options.setdefault("step_size", max(epochs / 3, 1e-9))
    if kind == "exp":
        options.setdefault("gamma", 0.01 ** (1 / max(epochs, 1e-9)))
    return Schedule(kind=kind, epochs=epochs, warmup=warmup, **options)
