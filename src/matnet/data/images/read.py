"""Step 1: an image file as grayscale in [0, 1] (Pillow decodes; images over ``MAX_PIXELS`` are refused before
decoding), a very large page reduced to ``WORK_SIDE``, resampling, and writing a field back as a PNG."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from matnet.errors import MatnetError
from matnet.fileio import open_regular

__all__ = ["MAX_PIXELS", "WORK_SIDE", "at_side", "gray_from_image", "read_gray", "reduce", "resize", "save_gray"]

MAX_PIXELS = 40_000_000     # larger images are refused before decoding (a 40-megapixel photo is 160 MB as floats)
WORK_SIDE = 1200            # larger pages are reduced to this longer side before the search for ink


def gray_from_image(image: Image.Image) -> np.ndarray:
    """A Pillow image as a float32 (H, W) array in [0, 1]: EXIF rotation applied, colour by luma, transparency
    laid over white paper, 16-bit and float images scaled by their range."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, image)
    # Each step in place: a 16-megapixel upload is 128 MB as float64, and a copy per step held several at once.
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        pixels = np.array(image, dtype=np.float64)
        np.nan_to_num(pixels, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        top = 1.0 if image.mode == "F" and pixels.max() <= 1.0 else 255.0 if pixels.max() <= 255 else 65535.0
        pixels /= top
        return np.clip(pixels, 0.0, 1.0, out=pixels).astype(np.float32)
    gray = np.array(image.convert("L"), dtype=np.float32)
    gray /= 255.0
    return gray


def _too_large(path, pixels: int | None) -> MatnetError:
    size = f"{pixels / 1e6:.0f} megapixels" if pixels else "too many pixels"
    return MatnetError(f"{path}: image too large ({size}; the limit is {MAX_PIXELS // 1_000_000} megapixels)")


def read_gray(path: str | Path) -> np.ndarray:
    """An image file as a float32 (H, W) array in [0, 1]. The size in the file's header is checked against
    ``MAX_PIXELS`` before the pixels are decoded, so a small file that decodes to gigabytes (a decompression
    bomb) is refused in one line."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with open_regular(path) as file, Image.open(file) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise _too_large(path, width * height)
                gray = gray_from_image(image)
    except FileNotFoundError:
        raise MatnetError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise MatnetError(f"{path}: is a folder, not an image") from None
    except UnidentifiedImageError:
        raise MatnetError(f"{path}: not an image Pillow can read (PNG, JPEG, PGM, ...)") from None
    except Image.DecompressionBombError as err:      # Pillow's own limit, met while reading the header
        found = re.search(r"\((\d+) pixels\)", str(err))
        raise _too_large(path, int(found.group(1)) if found else None) from None
    except MatnetError:
        raise
    except MemoryError:
        raise MatnetError(f"{path}: not enough memory to decode the image") from None
    except Exception as err:  # noqa: BLE001 - a hostile file may make a decoder raise anything; name the file
        raise MatnetError(f"{path}: cannot read the image ({type(err).__name__}: {err})") from None
    if min(gray.shape) < 2:
        raise MatnetError(f"{path}: the image is {gray.shape[1]}x{gray.shape[0]} pixels, too small for a digit")
    return gray


def reduce(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """A page whose longer side is over ``WORK_SIDE`` is shrunk to it (averaging pixels, which also averages
    away noise): the search for ink then takes the same time on a 40-megapixel photo as on a scan.
    Returns the image and the factor (original pixels per working pixel)."""
    h, w = gray.shape
    factor = max(h, w) / WORK_SIDE
    if factor <= 1:
        return gray, 1.0
    size = (max(2, round(w / factor)), max(2, round(h / factor)))
    small = Image.fromarray(np.ascontiguousarray(gray, dtype=np.float32), mode="F").resize(size, Image.Resampling.BOX)
    return np.asarray(small), factor



def resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A float image resampled (Lanczos) to ``size`` = (width, height), clipped to [0, 1]."""
    out = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32), mode="F").resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(out), 0.0, 1.0)


def at_side(digit: np.ndarray, side: int) -> np.ndarray:
    """The digit resampled so that its longer side is ``side`` pixels, keeping its aspect ratio."""
    h, w = digit.shape
    scale = side / max(h, w)
    return resize(digit, (max(1, round(w * scale)), max(1, round(h * scale))))


def save_gray(array: np.ndarray, path) -> None:
    """A [0, 1] float image as an 8-bit grayscale PNG (``path`` a file name or a binary file object)."""
    Image.fromarray(np.round(np.clip(array, 0, 1) * 255).astype(np.uint8), mode="L").save(path, format="PNG")
