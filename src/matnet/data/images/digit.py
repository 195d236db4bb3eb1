"""One digit, the whole pipeline: an image (or a file) -> the 28x28 field a model reads (``to_mnist``,
``load_digit``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from matnet.data.images.components import find_ink
from matnet.data.images.field import fit_field
from matnet.data.images.read import read_gray, reduce
from matnet.data.images.stroke import normalise_stroke
from matnet.errors import MatnetError

__all__ = ["check_gray", "crop", "field_of", "load_digit", "to_mnist"]


def check_gray(gray: np.ndarray, source: str) -> np.ndarray:
    """A 2-D image of finite values as float32, or a MatnetError naming ``source``."""
    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2 or min(gray.shape) < 2:
        raise MatnetError(f"{source}: expected a 2-D image, got shape {gray.shape}")
    if not np.isfinite(gray).all():
        raise MatnetError(f"{source}: the image has NaN or infinite pixels")
    return gray


def crop(ink: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The ink under the mask, cropped to the mask's bounding box (zero elsewhere)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    return np.where(mask[box], ink[box], 0.0).astype(np.float32)


def field_of(ink: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Steps 5 and 6: the ink under a digit's mask -> its (28, 28) field."""
    return fit_field(normalise_stroke(crop(ink, mask)))


def to_mnist(gray: np.ndarray, source: str = "image") -> np.ndarray:
    """(H, W) grayscale in [0, 1], either polarity -> (28, 28) float32 in [0, 1], a light digit on black."""
    gray, _ = reduce(check_gray(gray, source))
    page, mask = find_ink(gray, source)
    return field_of(page.ink, mask)


def load_digit(path: str | Path) -> np.ndarray:
    """An image file -> the 28x28 MNIST-style input a model sees."""
    return to_mnist(read_gray(path), str(path))
