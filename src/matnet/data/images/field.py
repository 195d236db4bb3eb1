"""Step 6: the 28x28 field, as the MNIST authors made theirs: the digit's longer side scaled to 20 pixels, its centre
of mass placed at (14, 14)."""

from __future__ import annotations

import numpy as np

from matnet.data.images.read import at_side

__all__ = ["BOX", "FIELD", "fit_field"]

FIELD, BOX = 28, 20         # the field MNIST digits lie in, and the box their longer side fills


def fit_field(digit: np.ndarray) -> np.ndarray:
    """A digit cropped to its bounding box -> (28, 28) float32: scaled so that its longer side is 20 pixels,
    keeping its aspect ratio, and placed with its centre of mass at (14, 14)."""
    digit = at_side(digit, BOX)
    ys, xs = np.indices(digit.shape)
    mass = max(float(digit.sum()), 1e-12)
    cy, cx = (ys * digit).sum() / mass, (xs * digit).sum() / mass
    top_row = int(np.clip(round(FIELD / 2 - cy), 0, FIELD - digit.shape[0]))
    left_col = int(np.clip(round(FIELD / 2 - cx), 0, FIELD - digit.shape[1]))
    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    field[top_row:top_row + digit.shape[0], left_col:left_col + digit.shape[1]] = digit
    return field
