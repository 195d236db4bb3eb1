"""Step 5: a stroke far thinner or thicker than MNIST's measured (``stroke_width``) and redrawn at MNIST's width
(``normalise_stroke``)."""

from __future__ import annotations

import numpy as np

from matnet.data.images.components import dilate, erode
from matnet.data.images.field import BOX
from matnet.data.images.ink import NOISE_FLOOR
from matnet.data.images.read import at_side

__all__ = ["KEEP", "MNIST_STROKE", "STROKE_RANGE", "STROKE_SIDE", "normalise_stroke", "stroke_width"]

STROKE_SIDE = 4 * BOX       # strokes are measured and changed with the digit's longer side at 80 pixels
MNIST_STROKE = 9.2          # the median MNIST stroke at that size, as `stroke_width` measures it (test set)
STROKE_RANGE = (0.7, 2.0)   # strokes within these multiples of MNIST's are left as they are


def stroke_width(digit: np.ndarray) -> float:
    """The mean width of the strokes of a digit (ink in [0, 1]), in pixels: the ink's area over the length of
    its strokes, the length being a quarter of the number of ink/paper edges between pixels times pi/2 (a
    stroke has two sides, and a side at a random angle crosses 4/pi times as many pixel edges as its length)."""
    ink = np.pad(digit > 0.5, 1)
    area = ink.sum()
    edges = (ink[1:] != ink[:-1]).sum() + (ink[:, 1:] != ink[:, :-1]).sum()
    return float(8.0 * area / (np.pi * max(edges, 1)))


KEEP = 0.95                 # an erosion must leave this share of the ink where its opening (erode, then dilate) runs


def _thinned(shape: np.ndarray, radius: int) -> np.ndarray:
    """A thick digit's shape (boolean) eroded by ``radius``, or by less where that would erase a stroke: the
    largest radius r at which every stroke keeps at least the thinnest width left alone (``STROKE_RANGE``'s low
    end), that is, at which an opening (an erosion, then a dilation) by r plus half that width keeps ``KEEP`` of
    the ink. Strokes differ in width (a bold "4"'s diagonal is half its uprights'), and an erosion fitted to their
    mean erased the thinnest: the 4 was read 1."""
    margin = int(STROKE_RANGE[0] * MNIST_STROKE / 2)            # strokes left 2 * margin + 1 wide or more
    ink, work = shape.sum(), shape.astype(np.float32)
    for r in range(radius, 0, -1):
        reach = r + margin
        opened = dilate(erode(np.pad(work, reach), reach), reach)[reach:-reach, reach:-reach]
        if (shape & (opened > 0.5)).sum() >= KEEP * ink:
            return erode(work, r)
    return work


def normalise_stroke(digit: np.ndarray) -> np.ndarray:
    """A digit drawn with a pen far thinner or thicker than MNIST's, redrawn at MNIST's stroke width.

    The digit (cropped to its box) is measured at ``STROKE_SIDE`` pixels; outside ``STROKE_RANGE`` times
    ``MNIST_STROKE`` it is dilated or eroded there by half the difference (less where that would erase its
    thinnest stroke: ``_thinned``), then cropped again. Within the range it is returned unchanged: it holds
    MNIST's own strokes from the 5th percentile to past the 99th (0.69-1.87 times the median on the test set),
    which the model has seen.
    """
    work = at_side(digit, STROKE_SIDE)
    width = stroke_width(work)
    low, high = STROKE_RANGE
    if low * MNIST_STROKE <= width <= high * MNIST_STROKE:
        return digit
    radius = round(abs(MNIST_STROKE - width) / 2)
    if radius == 0:
        return digit
    if width < MNIST_STROKE:       # a faint hairline spreads at its own level: bring its core to full ink
        work = dilate(np.pad(work, radius), radius)
        work = np.clip(work / max(float(np.percentile(work[work > NOISE_FLOOR], 90)), 0.1), 0.0, 1.0)
    else:                          # eroded as a shape: a grey minimum would spread a stroke's faintest pixel
        work = _thinned(work > 0.5, radius)
    rows, cols = np.flatnonzero(work.max(axis=1) > NOISE_FLOOR), np.flatnonzero(work.max(axis=0) > NOISE_FLOOR)
    return work[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] if rows.size else digit
