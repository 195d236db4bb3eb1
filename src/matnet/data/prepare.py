"""From uint8 images to what a network eats: float32 rows in [0, 1] on the device, and a validation split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matnet.backend import xp
from matnet.data.datasets import Dataset

__all__ = ["Splits", "normalize", "model_inputs", "prepare"]


def normalize(images: np.ndarray, dtype=np.float32):
    """uint8 images (N, H, W) -> (N, H*W) rows of ``pixel / 255`` in [0, 1], on the backend's device."""
    images = np.asarray(images)
    flat = images.reshape(len(images), int(np.prod(images.shape[1:])))   # not -1: no validation set is (0, H*W)
    out = xp.asarray(flat, dtype=dtype)
    out *= out.dtype.type(1.0 / 255.0)
    return out


def model_inputs(images: np.ndarray, input_shape: tuple[int, ...], dtype=np.float32):
    """uint8 images (N, H, W) -> a model's inputs: rows (N, H*W) for an MLP, (N, 1, H, W) for a CNN."""
    x = normalize(images, dtype)
    if int(np.prod(input_shape)) != x.shape[1]:
        raise ValueError(f"the model takes inputs of shape {tuple(input_shape)}, the images are "
                         f"{'x'.join(map(str, np.shape(images)[1:]))}")
    return x.reshape(len(x), *input_shape)


@dataclass
class Splits:
    """Train, validation and test arrays: x (N, D) float, y (N,) integer labels."""

    x_train: object
    y_train: object
    x_val: object
    y_val: object
    x_test: object
    y_test: object
    classes: tuple[str, ...]


def prepare(dataset: Dataset, *, val_size: int = 10_000, subset: int | None = None, dtype=np.float32) -> Splits:
    """Hold out the *last* ``val_size`` training images for validation (the standard 50k/10k MNIST split), then
    keep the first ``subset`` of the rest for training if asked."""
    n = len(dataset.train_images)
    if not 0 <= val_size < n:
        raise ValueError(f"val-size must be below the {n:,} training images (it holds them out of training), "
                         f"got {val_size:,}")
    cut = n - val_size
    train_end = cut if subset is None else min(int(subset), cut)
    if train_end < 1:
        raise ValueError(f"subset must be at least 1, got {subset}")

    def labels(a):
        return xp.asarray(a, dtype=xp.int64)

    return Splits(
        x_train=normalize(dataset.train_images[:train_end], dtype),
        y_train=labels(dataset.train_labels[:train_end]),
        x_val=normalize(dataset.train_images[cut:], dtype),
        y_val=labels(dataset.train_labels[cut:]),
        x_test=normalize(dataset.test_images, dtype),
        y_test=labels(dataset.test_labels),
        classes=dataset.classes,
    )
