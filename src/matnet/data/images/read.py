"""Step 1: an image file as grayscale in [0, 1] (``decode_gray``, the one decoder of untrusted images, for files and
uploads alike: images over a pixel limit refused before decoding, every failure an ``ImageError`` with its kind),
a very large page reduced to ``WORK_SIDE``, resampling, and writing a field back as a PNG."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from matnet.errors import MatnetError
from matnet.fileio import open_regular

__all__ = ["MAX_PIXELS", "WORK_SIDE", "ImageError", "at_side", "decode_gray", "gray_from_image", "read_gray",
           "reduce", "resize", "save_gray"]

MAX_PIXELS = 40_000_000     # the decoder's limit: larger images are refused before decoding (a 40-megapixel photo
                            # is 160 MB as floats); a caller that holds several at once passes a lower one
WORK_SIDE = 1200            # larger pages are reduced to this longer side before the search for ink


class ImageError(MatnetError):
    """An image that cannot be decoded, in one line naming its source. ``kind`` says why, so that a caller can
    answer in its own terms (``matnet serve`` maps the kinds to 413, 415 and 422):

    ``TOO_LARGE``     more pixels than the limit, found in the file's header before anything is decoded
    ``NOT_AN_IMAGE``  no decoder allowed recognises the data
    ``UNREADABLE``    anything else: no such file, a folder, truncated or corrupt data, out of memory, an image
                      too small to hold a digit
    """

    TOO_LARGE = "too large"
    NOT_AN_IMAGE = "not an image"
    UNREADABLE = "unreadable"

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


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


def _names(formats: tuple[str, ...]) -> str:
    """("PNG", "JPEG", "WEBP") -> "PNG, JPEG or WebP"."""
    names = [{"WEBP": "WebP"}.get(name, name) for name in formats]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _too_large(source: str, size: str, max_pixels: int) -> ImageError:
    return ImageError(ImageError.TOO_LARGE, f"{source}: the image is {size}; the limit is {max_pixels / 1e6:g} "
                                            f"megapixels")


def decode_gray(file: BinaryIO, source: str, *, max_pixels: int = MAX_PIXELS,
                formats: tuple[str, ...] | None = None) -> tuple[np.ndarray, dict]:
    """An image read from ``file`` (an open binary file, or ``io.BytesIO`` of an upload) -> (float32 (H, W) in
    [0, 1], ``{"width", "height", "format"}`` from its header). The one decoder of images from outside.

    The size in the header is checked against ``max_pixels`` before the pixels are decoded, so a small file that
    decodes to gigabytes (a decompression bomb) is refused at once; ``formats`` (Pillow's names: "PNG", "JPEG")
    limits the decoders that may run (None: any Pillow has). Whatever the data makes a decoder raise (a truncated
    file, a corrupt one, MemoryError) is an ``ImageError`` naming ``source``, with its ``kind``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(file, formats=formats) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise _too_large(source, f"{width}x{height} pixels ({width * height / 1e6:.0f} megapixels)",
                                     max_pixels)
                header = {"width": width, "height": height, "format": image.format}
                image.load()
                gray = gray_from_image(image)
    except ImageError:
        raise
    except UnidentifiedImageError:
        what = f"a {_names(formats)} image" if formats else "an image Pillow can read (PNG, JPEG, PGM, ...)"
        raise ImageError(ImageError.NOT_AN_IMAGE, f"{source}: not {what}") from None
    except Image.DecompressionBombError as err:      # Pillow's own limit, met while reading the header
        found = re.search(r"\((\d+) pixels\)", str(err))
        size = f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "too large to decode"
        raise _too_large(source, size, max_pixels) from None
    except MemoryError:
        raise ImageError(ImageError.UNREADABLE, f"{source}: not enough memory to decode the image") from None
    except Exception as err:  # noqa: BLE001 - a hostile file may make a decoder raise anything; name the source
        raise ImageError(ImageError.UNREADABLE, f"{source}: cannot decode the image ({type(err).__name__}: "
                                                f"{err})") from None
    if min(gray.shape) < 2:
        raise ImageError(ImageError.UNREADABLE, f"{source}: the image is {gray.shape[1]}x{gray.shape[0]} pixels, "
                                                f"too small for a digit")
    return gray, header


def read_gray(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An image file as a float32 (H, W) array in [0, 1] (``decode_gray``). The file is opened only if it is a
    regular one (``open_regular``: a named pipe or a socket is a ``NotRegularFile``, never waited on); a missing
    file or a folder is an ``ImageError`` (``UNREADABLE``)."""
    path = Path(path)
    try:
        file = open_regular(path)
    except FileNotFoundError:
        raise ImageError(ImageError.UNREADABLE, f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(ImageError.UNREADABLE, f"{path}: is a folder, not an image") from None
    except OSError as err:
        raise ImageError(ImageError.UNREADABLE, f"{path}: cannot open the file ({err.strerror or err})") from None
    with file:
        gray, _ = decode_gray(file, str(path), max_pixels=max_pixels)
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
