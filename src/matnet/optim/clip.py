"""Gradient clipping by global norm: if ``||g|| > max_norm``, scale every gradient by ``max_norm / ||g||``.

The direction of the step is kept; only its length is capped, which stops one bad batch from throwing the weights
far away. ``||g||`` is the norm of all gradients together, one flat vector here.
"""

from __future__ import annotations

import math

from matnet.backend import xp

__all__ = ["clip_grad_norm"]


def clip_grad_norm(grads, max_norm: float) -> float:
    """Scale ``grads`` (flat, in place) to norm at most ``max_norm``; return the norm before clipping."""
    norm = math.sqrt(float(xp.dot(grads, grads)))
    if norm > max_norm:
        grads *= max_norm / (norm + 1e-12)
    return norm
