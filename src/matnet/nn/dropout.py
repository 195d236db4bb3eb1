"""Inverted dropout: a regulariser that trains many thinned networks at once."""

from __future__ import annotations

import numpy as np

from matnet.backend import DeviceRandom, to_device
from matnet.nn.layer import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """In training, zero each unit with probability ``p`` and scale the survivors by ``1 / (1 - p)``, so that the
    expected activation is unchanged and evaluation is the identity (no rescaling at test time).

    forward:   x: (N, ...)  ->  out = x * mask,   mask = [u >= p] / (1 - p),  u ~ U(0, 1)
    backward:  dx = dout * mask

    ``rng`` draws ``u``. Without one, the network the layer joins gives it a
    :class:`~matnet.backend.DeviceRandom` seeded from the network's seed (the draws stay on the device; standing
    alone, the layer uses ``DeviceRandom(0)``). A generator you give is kept, in a network too; a NumPy Generator
    draws on the host and its numbers are copied to the device.
    """

    def __init__(self, p: float = 0.5, *, rng=None, name: str | None = None):
        super().__init__(name)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout(p={p}): p must be in [0, 1)")
        self.p = float(p)
        self.own_rng = rng is not None
        self.rng = rng if rng is not None else DeviceRandom(0)

    def reset_parameters(self, rng) -> None:
        # A generator of its own, seeded from the model's: masks are reproducible and independent of init.
        self.rng = DeviceRandom(rng.integers(2**63))

    def forward(self, x, training=False):
        if not training:
            return x
        if self.p == 0.0:
            self._cache = None     # nothing dropped: backward passes dout through
            return x
        keep = to_device(self.rng.random(x.shape, dtype=np.float32)) >= self.p
        mask = keep.astype(x.dtype)
        mask *= 1.0 / (1.0 - self.p)
        self._cache = mask
        return x * mask

    def backward(self, dout):
        if self.p == 0.0:
            return dout
        return dout * self._saved()

    def config(self):
        return {"p": self.p}
