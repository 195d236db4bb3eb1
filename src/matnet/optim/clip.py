"""Gradient clipping by global norm: if ``||g|| > max_norm``, scale every gradient by ``max_norm / ||g||``.

The direction of the step is kept; only its length is capped, which stops one bad batch from throwing the weights
far away. ``||g||`` is the norm of all gradients together, one flat vector here.
"""

from __future__ import annotations


from matnet.backend import xp

__all__ = ["clip_grad_norm"]


def clip_grad_norm(grads, max_norm: float):
    """Scale ``grads`` (flat, in place) to norm at most ``max_norm``; return the norm before clipping (a float64
    device scalar). The scale (1 when the norm is within bounds) is applied without reading the norm back: no
    transfer from the device."""
    norm = xp.sqrt(xp.dot(grads, grads).astype(xp.float64))
    scale = xp.where(norm > max_norm, max_norm / (norm + 1e-12), 1.0).astype(grads.dtype)
    grads *= scale
    return norm
