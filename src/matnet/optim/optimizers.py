"""Optimizers, in order of increasing complexity. All update a model's flat parameter vector in place.

``theta`` is the flat parameter vector, ``g`` its gradient, ``lr`` the learning rate in force for the step: the
optimizer's ``lr`` (the one owner of the learning rate), or, when the optimizer was given a schedule, the
schedule's value of it at the step's progress (``rate``; see :mod:`matnet.optim.schedules`). Conventions match
PyTorch's, so the two can be compared step for step:

    SGD        theta -= lr * g
    Momentum   v = mu * v + g;                               theta -= lr * v
    Nesterov   v = mu * v + g;                               theta -= lr * (g + mu * v)
    Adam       m = b1 m + (1 - b1) g;  s = b2 s + (1 - b2) g^2;
               theta -= lr * (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps)
    AdamW      Adam, with weight decay applied to theta directly (decoupled): theta -= lr * wd * theta

L2 weight decay (every optimizer but AdamW) adds ``wd * theta`` to the gradient of the weights (not the
biases), which is the gradient of ``wd / 2 * ||W||^2``. Which parameters are decayed, each layer says in its
``decayed`` attribute (Dense's and Conv2D's ``W``; no bias, nor BatchNorm's gamma and beta); ``Parameters``
places those first, so decay (and AdamW's) touches ``theta[:params.n_decayed]`` only, and ``params.decays`` gives
the flag per parameter. The optimizer owns the gradient once backward is done: decay and clipping write into it.
"""

from __future__ import annotations

import math

from matnet.backend import xp

__all__ = ["Optimizer", "SGD", "Momentum", "Nesterov", "Adam", "AdamW", "OPTIMIZERS", "make_optimizer"]


class Optimizer:
    """Shared step: L2 decay into the gradient, then the subclass's ``_update``. State is created on first use.

    ``lr`` is the learning rate; ``schedule`` (a :class:`~matnet.optim.schedules.Schedule`, or any function of
    ``(progress, lr)``) varies it over training; ``rate`` is the value the last step used."""

    def __init__(self, lr: float = 0.01, weight_decay: float = 0.0, *, schedule=None):
        if lr <= 0 or not math.isfinite(lr):
            raise ValueError(f"learning rate must be a positive number, got {lr}")
        if not 0 <= weight_decay < math.inf:
            raise ValueError(f"weight decay must be a number >= 0, got {weight_decay}")
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.schedule = schedule
        self.rate = self.lr  # the rate in force (the last step's)
        self.t = 0  # steps taken
        self.state: dict[str, object] = {}
        self._scratch = None

    def rate_at(self, progress: float | None) -> float:
        """The learning rate at ``progress`` epochs into training: the schedule's, or ``lr`` without one."""
        return self.lr if self.schedule is None or progress is None else float(self.schedule(progress, self.lr))

    def step(self, params, progress: float | None = None) -> None:
        """One update of ``params.values`` from ``params.grads`` (a :class:`matnet.nn.Parameters`), at the rate
        ``rate_at(progress)``."""
        theta, g = params.values, params.grads
        if self._scratch is None or self._scratch.shape != theta.shape:
            self._scratch = xp.empty_like(theta)
        self.rate = self.rate_at(progress)
        self.t += 1
        if self.weight_decay and not self.decoupled:
            n = params.n_decayed
            tmp = self._scratch[:n]
            xp.multiply(theta[:n], self.weight_decay, out=tmp)
            g[:n] += tmp
        self._update(theta, g, self._scratch, params.n_decayed)

    decoupled = False

    def _update(self, theta, g, tmp, n_decayed):
        raise NotImplementedError

    def _buffer(self, key, like):
        if key not in self.state:
            self.state[key] = xp.zeros_like(like)
        return self.state[key]

    def config(self) -> dict:
        return {"lr": self.lr, "weight_decay": self.weight_decay}

    def state_dict(self) -> tuple[dict, dict]:
        """``(arrays, values)``: what a resumed run needs to take exactly the same next step."""
        return dict(self.state), {"t": self.t, "lr": self.lr, "rate": self.rate}

    def load_state_dict(self, arrays: dict, values: dict) -> None:
        self.t, self.lr, self.rate = int(values["t"]), float(values["lr"]), float(values["rate"])
        self.state = {key: xp.array(array) for key, array in arrays.items()}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.config().items())})"


class SGD(Optimizer):
    """Plain gradient descent: ``theta -= lr * g``."""

    def _update(self, theta, g, tmp, n_decayed):
        xp.multiply(g, self.rate, out=tmp)
        theta -= tmp


class Momentum(Optimizer):
    """Heavy ball: a velocity that accumulates gradients, ``v = mu v + g; theta -= lr v``."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9, weight_decay: float = 0.0, *, schedule=None):
        super().__init__(lr, weight_decay, schedule=schedule)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)

    def _update(self, theta, g, tmp, n_decayed):
        v = self._buffer("velocity", theta)
        v *= self.momentum
        v += g
        xp.multiply(v, self.rate, out=tmp)
        theta -= tmp

    def config(self):
        return {**super().config(), "momentum": self.momentum}


class Nesterov(Momentum):
    """Momentum that looks ahead: the step uses the gradient plus the *updated* velocity, ``g + mu v``."""

    def _update(self, theta, g, tmp, n_decayed):
        v = self._buffer("velocity", theta)
        v *= self.momentum
        v += g
        xp.multiply(v, self.momentum, out=tmp)
        tmp += g
        tmp *= self.rate
        theta -= tmp


class Adam(Optimizer):
    """Per-parameter step sizes from running averages of the gradient (m) and its square (s), bias-corrected."""

    def __init__(self, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, *, schedule=None):
        super().__init__(lr, weight_decay, schedule=schedule)
        self.beta1, self.beta2 = map(float, betas)
        self.eps = float(eps)

    def _update(self, theta, g, tmp, n_decayed):
        m, s = self._buffer("m", theta), self._buffer("s", theta)
        b1, b2 = self.beta1, self.beta2
        m *= b1                                    # m = b1 m + (1 - b1) g
        xp.multiply(g, 1.0 - b1, out=tmp)
        m += tmp
        s *= b2                                    # s = b2 s + (1 - b2) g^2
        xp.multiply(g, g, out=tmp)
        tmp *= 1.0 - b2
        s += tmp
        # theta -= lr / (1 - b1^t) * m / (sqrt(s) / sqrt(1 - b2^t) + eps), without temporaries
        xp.sqrt(s, out=tmp)
        tmp *= 1.0 / math.sqrt(1.0 - b2 ** self.t)
        tmp += self.eps
        xp.divide(m, tmp, out=tmp)
        tmp *= self.rate / (1.0 - b1 ** self.t)
        theta -= tmp

    def config(self):
        return {**super().config(), "betas": (self.beta1, self.beta2), "eps": self.eps}


class AdamW(Adam):
    """Adam with decoupled weight decay: the weights shrink by ``lr * wd`` each step, outside the adaptive scaling."""

    decoupled = True

    def __init__(self, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.01, *,
                 schedule=None):
        super().__init__(lr, betas, eps, weight_decay, schedule=schedule)

    def _update(self, theta, g, tmp, n_decayed):
        if self.weight_decay:
            theta[:n_decayed] *= 1.0 - self.rate * self.weight_decay
        super()._update(theta, g, tmp, n_decayed)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov, "adam": Adam, "adamw": AdamW}


def make_optimizer(name: str, lr: float, weight_decay: float = 0.0, momentum: float = 0.9, *,
                   schedule=None) -> Optimizer:
    """The optimizer called ``name`` (a key of OPTIMIZERS) with the common hyperparameters."""
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}") from None
    if issubclass(cls, Momentum):
        return cls(lr=lr, momentum=momentum, weight_decay=weight_decay, schedule=schedule)
    return cls(lr=lr, weight_decay=weight_decay, schedule=schedule)
