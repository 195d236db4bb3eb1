"""The user's own images made to look like MNIST digits, as the MNIST authors made theirs:

1. grayscale; the polarity detected from the border (MNIST is a light digit on a dark background, so a light
   border means dark ink on light paper, which is inverted);
2. the background (the border's median) subtracted and the contrast stretched to [0, 1]; faint noise zeroed;
3. the digit's bounding box scaled, keeping its aspect ratio, so that its longer side is 20 pixels;
4. placed in a 28x28 field so that its centre of mass lies at (14, 14) (MNIST's own digits average (14.0, 14.0)
   with pixel centres at integer coordinates).

Pillow reads the files (PNG, JPEG, PGM, ... of any size) and does the resampling; the rest is NumPy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from matnet.errors import MatnetError

__all__ = ["read_gray", "to_mnist", "load_digit", "save_gray", "FIELD", "BOX"]

FIELD, BOX, NOISE_FLOOR = 28, 20, 0.05


def read_gray(path: str | Path) -> np.ndarray:
    """An image file as a float (H, W) array in [0, 1]; transparency is laid over white paper."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                image = image.convert("RGBA")
                paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
                image = Image.alpha_composite(paper, image)
            gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise MatnetError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise MatnetError(f"{path}: is a folder, not an image") from None
    except UnidentifiedImageError:
        raise MatnetError(f"{path}: not an image Pillow can read (PNG, JPEG, PGM, ...)") from None
    except (OSError, ValueError) as err:
        raise MatnetError(f"{path}: cannot read the image ({err})") from None
    return gray


def to_mnist(gray: np.ndarray, source: str = "image") -> np.ndarray:
    """(H, W) grayscale in [0, 1], either polarity -> (28, 28) float32 in [0, 1], a light digit on black."""
    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2 or min(gray.shape) < 2:
        raise MatnetError(f"{source}: expected a 2-D image, got shape {gray.shape}")
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    if np.median(border) > 0.5:                      # dark ink on light paper
        gray, border = 1.0 - gray, 1.0 - border
    ink = gray - np.median(border)
    top = ink.max()
    if top <= 0.1:
        raise MatnetError(f"{source}: no digit found (the image is blank or has no contrast)")
    ink = np.clip(ink / top, 0.0, 1.0)
    ink[ink < NOISE_FLOOR] = 0.0
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    digit = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    h, w = digit.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    digit = np.asarray(Image.fromarray(digit, mode="F").resize(size, Image.Resampling.LANCZOS))
    digit = np.clip(digit, 0.0, 1.0)
    ys, xs = np.indices(digit.shape)
    mass = digit.sum()
    cy, cx = (ys * digit).sum() / mass, (xs * digit).sum() / mass
    top_row = int(np.clip(round(FIELD / 2 - cy), 0, FIELD - digit.shape[0]))
    left_col = int(np.clip(round(FIELD / 2 - cx), 0, FIELD - digit.shape[1]))
    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    field[top_row:top_row + digit.shape[0], left_col:left_col + digit.shape[1]] = digit
    return field


def load_digit(path: str | Path) -> np.ndarray:
    """An image file -> the 28x28 MNIST-style input a model sees."""
    return to_mnist(read_gray(path), str(path))


def save_gray(array: np.ndarray, path: str | Path) -> None:
    """A [0, 1] float image as an 8-bit grayscale PNG."""
    Image.fromarray(np.round(np.clip(array, 0, 1) * 255).astype(np.uint8), mode="L").save(path)
