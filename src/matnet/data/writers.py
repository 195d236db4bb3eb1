"""Digits written unlike MNIST's writers: blocky low-resolution scans, heavy slant, very thick or thin strokes.

Each kind is one function on a batch of images ``(N, H, W)`` (uint8 or float; the same dtype comes back), light
ink on black as in MNIST, with a setting that is one number for the whole batch or one per image (an ``(N,)``
array, as ``Augment`` draws them):

- ``blocky(images, size)``: a scan in which the digit is ``size`` pixels tall, upscaled back. MNIST's digit fills
  20 of its 28 rows, so the image is area-averaged down to ``n = round(H * size / 20)`` pixels a side and drawn
  back at H by nearest neighbour: ``M X M^T`` with ``M = U A`` (``A``: ``(n, H)``, row i the mean over the input
  interval ``[i H / n, (i + 1) H / n)``, fractional pixels weighted by their overlap; ``U``: ``(H, n)``, output
  pixel j takes cell ``floor((j + 1/2) n / H)``).
- ``sheared(images, factor)``: a slant; row y moves right by ``factor * (cy - y)`` pixels (cy the middle row),
  so with ``factor > 0`` the top leans right, as in italics. Each row is resampled by linear interpolation, 0
  outside.
- ``thick(images, steps)`` / ``thin(images, steps)``: a grey dilation / erosion, ``steps`` times: each pixel the
  max / min of itself and its 4 neighbours (a cross; 0 outside). One step widens / narrows a stroke by about
  2 pixels (MNIST's is about 2-3 wide).

Each leaves an image as it is at its neutral setting (``size = 20``, ``factor = 0``, ``steps = 0``).

Everything is array operations over the whole batch on the backend's array module (a batch on a GPU stays
there), deterministic. ``KINDS`` names the test kinds (``apply_kind``), which bench/writers.py and
tests/data/test_hard_digits.py make from MNIST's test digits; ``Augment(writers=...)`` draws its own settings.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from matnet.backend import to_device, to_numpy, xp

__all__ = ["KINDS", "apply_kind", "blocky", "sheared", "thick", "thin"]

# The kinds of the test set: name -> (function, setting). Blocky scans of digits 8 to 16 pixels tall, a slant of
# 0.4 pixels per row either way (about 22 degrees), one step of dilation or erosion.
KINDS = {"blocky-8": ("blocky", 8), "blocky-12": ("blocky", 12), "blocky-16": ("blocky", 16),
         "slant-right": ("sheared", 0.4), "slant-left": ("sheared", -0.4),
         "thick": ("thick", 1), "thin": ("thin", 1)}


def _per_image(setting, n: int) -> np.ndarray:
    """The setting as one value per image, on the host."""
    values = np.broadcast_to(to_numpy(setting), (n,))
    return np.array(values)


def _cast_like(out, images):
    """``out`` (float) as ``images``' dtype: rounded and clipped for integers."""
    if np.issubdtype(images.dtype, np.integer):
        info = np.iinfo(images.dtype)
        return xp.clip(xp.rint(out), info.min, info.max).astype(images.dtype)
    return out.astype(images.dtype)


@lru_cache(maxsize=64)
def _block_matrix(side: int, size: int) -> np.ndarray:
    """``M = U A`` of the module docstring for images ``side`` pixels a side and a digit ``size`` pixels tall."""
    n = max(1, min(side, round(side * size / 20)))
    edges = np.arange(n + 1) * side / n
    left, right = np.arange(side), np.arange(side) + 1
    overlap = np.clip(np.minimum(edges[1:, None], right) - np.maximum(edges[:-1, None], left), 0, None)
    area = overlap / overlap.sum(axis=1, keepdims=True)                               # (n, side)
    cell = np.floor((np.arange(side) + 0.5) * n / side).astype(int)
    return area[cell]                                                                 # (side, side)


def blocky(images, size):
    """A low-resolution scan of each digit, ``size`` pixels tall, upscaled back (module docstring).
    images: (N, H, W) with H == W; size: a number or (N,)."""
    n, side = len(images), images.shape[1]
    sizes = _per_image(size, n).astype(int)
    m = to_device(np.stack([_block_matrix(side, int(s)) for s in sizes]))              # (N, H, H)
    x = images.astype(np.float64)
    return _cast_like(xp.matmul(xp.matmul(m, x), m.transpose(0, 2, 1)), images)


def sheared(images, factor):
    """Each row ``y`` moved right by ``factor * (cy - y)`` pixels, linearly interpolated (module docstring).
    images: (N, H, W); factor: a number or (N,), less than W / (H - 1) in size."""
    n, h, w = images.shape
    shift = to_device(_per_image(factor, n).astype(np.float64))[:, None] * ((h - 1) / 2 - xp.arange(h))   # (N, H)
    whole = xp.floor(shift)
    frac = (shift - whole)[:, :, None]
    # each row padded by W zeros on either side, so every pixel read lies inside: one flat gather per neighbour
    padded = xp.zeros((n, h, 3 * w))
    padded[:, :, w:2 * w] = images
    padded = padded.reshape(-1)
    start = (xp.arange(n * h).reshape(n, h) * 3 * w + w - whole.astype(np.int64))[:, :, None] + xp.arange(w)
    return _cast_like((1 - frac) * padded[start] + frac * padded[start - 1], images)


def _cross(x, pick):
    """``pick`` (max or min) of each pixel and its 4 neighbours, 0 outside."""
    padded = xp.zeros((len(x), x.shape[1] + 2, x.shape[2] + 2), dtype=x.dtype)
    padded[:, 1:-1, 1:-1] = x
    out = x
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        out = pick(out, padded[:, dy:dy + x.shape[1], dx:dx + x.shape[2]])
    return out


def _morph(images, steps, pick):
    steps = _per_image(steps, len(images)).astype(np.int64)
    out = images
    for k in range(int(steps.max()) if len(images) else 0):
        out = xp.where(to_device(steps > k)[:, None, None], _cross(out, pick), out)
    return out


def thick(images, steps):
    """A grey dilation by a cross, ``steps`` times (a number or (N,)): strokes about 2 pixels wider a step."""
    return _morph(images, steps, xp.maximum)


def thin(images, steps):
    """A grey erosion by a cross, ``steps`` times (a number or (N,)): strokes about 2 pixels narrower a step."""
    return _morph(images, steps, xp.minimum)


def apply_kind(kind: str, images):
    """The images made into one of ``KINDS`` (e.g. "blocky-8", "slant-left", "thin")."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    name, setting = KINDS[kind]
    return {"blocky": blocky, "sheared": sheared, "thick": thick, "thin": thin}[name](images, setting)
