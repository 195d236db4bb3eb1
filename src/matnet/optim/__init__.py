"""Optimizers, learning-rate schedules and gradient clipping: how parameters move, given their gradients."""

from matnet.optim.clip import clip_grad_norm
from matnet.optim.optimizers import OPTIMIZERS, SGD, Adam, AdamW, Momentum, Nesterov, Optimizer, make_optimizer
from matnet.optim.schedules import SCHEDULES, Schedule, make_schedule

__all__ = ["OPTIMIZERS", "SCHEDULES", "SGD", "Adam", "AdamW", "Momentum", "Nesterov", "Optimizer", "Schedule",
           "clip_grad_norm", "make_optimizer", "make_schedule"]
