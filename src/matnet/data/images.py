"""The user's own images made to look like MNIST digits, as the MNIST authors made theirs.

A photo or scan of a digit differs from MNIST in ways the network never saw: grey or tinted paper, sensor noise,
JPEG artefacts, a shadow across the page, a ruled line or other marks in the margin, a pen far thinner or a
marker far thicker than MNIST's strokes, the digit small and off-centre in a large page. ``to_mnist`` finds the
ink and nothing else, in steps that each have one function here:

1. ``read_gray``: the file as grayscale in [0, 1] (colour by luma, transparency laid over white paper), refusing
   images over ``MAX_PIXELS`` before decoding them; ``reduce`` shrinks a very large page to ``WORK_SIDE``;
2. ``flatten``: the paper's brightness fitted by a smooth surface (a quadratic in x and y, robust to the ink),
   the polarity read from which side of it the outliers lie, and the ink measured against it: the fraction of
   light the ink absorbs for dark ink on paper (so a shadow, which dims paper and ink alike, cancels out), the
   difference for light ink on a dark ground; scaled so the ink is 1;
3. ``otsu_threshold``: the threshold between ink and paper chosen from the image's histogram, kept above the
   paper's noise level;
4. ``label_components`` and ``digit_mask``: the connected blobs of ink; the digit is the largest that keeps away
   from the page's edge, with the pieces near it (a "5" may come in two); specks, ruled lines and marks far
   from it are dropped; the digit's faint edges (anti-aliasing) are taken back within two pixels of it;
5. ``normalise_stroke``: a stroke far thinner or thicker than MNIST's is dilated or eroded towards MNIST's width;
6. ``fit_field``: the digit's bounding box scaled, keeping its aspect ratio, so that its longer side is 20
   pixels, and placed in a 28x28 field so that its centre of mass lies at (14, 14) (MNIST's own digits average
   (14.0, 14.0) with pixel centres at integer coordinates).

``split_digits`` uses steps 1-4 to cut a written number into its digits. Pillow reads the files and resamples;
the rest is NumPy.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from matnet.errors import MatnetError

__all__ = ["read_gray", "gray_from_image", "reduce", "flatten", "otsu_threshold", "label_components", "find_ink",
           "digit_mask", "stroke_width", "normalise_stroke", "fit_field", "to_mnist", "load_digit", "split_digits",
           "save_gray", "Ink", "FIELD", "BOX", "MAX_PIXELS", "WORK_SIDE"]

FIELD, BOX = 28, 20
MAX_PIXELS = 40_000_000     # larger images are refused before decoding (a 40-megapixel photo is 160 MB as floats)
WORK_SIDE = 1200            # larger pages are reduced to this longer side before the search for ink
NOISE_FLOOR = 0.05          # ink fainter than this (on a scale where the ink is 1) is paper, however clean
STROKE_SIDE = 4 * BOX       # strokes are measured and changed with the digit's longer side at 80 pixels
MNIST_STROKE = 9.2          # the median MNIST stroke at that size, as `stroke_width` measures it (test set)
STROKE_RANGE = (0.5, 2.0)   # strokes within these multiples of MNIST's are left as they are


# 1. Reading ----------------------------------------------------------------------------------------------------

def gray_from_image(image: Image.Image) -> np.ndarray:
    """A Pillow image as a float32 (H, W) array in [0, 1]: EXIF rotation applied, colour by luma, transparency
    laid over white paper, 16-bit and float images scaled by their range."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        image = image.convert("RGBA")
        paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, image)
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        pixels = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        top = 1.0 if image.mode == "F" and pixels.max() <= 1.0 else 255.0 if pixels.max() <= 255 else 65535.0
        return np.clip(pixels / top, 0.0, 1.0).astype(np.float32)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


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
            with Image.open(path) as image:
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


# 2. Background and polarity ------------------------------------------------------------------------------------

def _surface_terms(ys: np.ndarray, xs: np.ndarray, h: int, w: int) -> np.ndarray:
    """1, x, y, x^2, xy, y^2 with x and y scaled to [-1, 1]: the terms of a quadratic surface over the page."""
    y = 2.0 * ys / max(h - 1, 1) - 1.0
    x = 2.0 * xs / max(w - 1, 1) - 1.0
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)


def _robust_sigma(residuals: np.ndarray) -> float:
    """The noise's standard deviation from the median absolute deviation (blind to the ink's outliers)."""
    return float(1.4826 * np.median(np.abs(residuals - np.median(residuals))))


def background_surface(gray: np.ndarray, iterations: int = 8) -> tuple[np.ndarray, float]:
    """The paper's brightness as a smooth quadratic surface, and the noise around it (a standard deviation).

    The fit starts from the border (mostly paper on any page) and is refitted to every pixel within 3 noise
    deviations of the current surface, so the ink, a ruled line or a mark in the margin are outliers that do not
    pull it. A linear or gently curved shadow is such a surface; the fit runs on a grid of at most ~100x100
    samples (noise does not bias a least-squares fit), then the surface is evaluated at every pixel.
    """
    h, w = gray.shape
    step = max(1, int(np.ceil(max(h, w) / 100)))
    ys, xs = np.mgrid[0:h:step, 0:w:step]
    values = gray[::step, ::step].astype(np.float64)
    terms = _surface_terms(ys.astype(np.float64), xs.astype(np.float64), h, w)
    ring = max(1, min(values.shape) // 25)
    keep = np.ones(values.shape, bool)
    keep[ring:-ring, ring:-ring] = False
    sigma = 0.0
    for _ in range(iterations):
        coef, *_ = np.linalg.lstsq(terms[keep], values[keep], rcond=None)
        residuals = values - terms @ coef
        sigma = _robust_sigma(residuals[keep])
        update = np.abs(residuals) <= 3.0 * sigma + 0.01
        if update.sum() < 6 or np.array_equal(update, keep):
            break
        keep = update
    y = (2.0 * np.arange(h) / max(h - 1, 1) - 1.0).astype(np.float32)[:, None]   # the same terms, broadcast
    x = (2.0 * np.arange(w) / max(w - 1, 1) - 1.0).astype(np.float32)[None, :]
    c = coef.astype(np.float32)
    surface = (c[0] + c[2] * y + c[5] * y * y) + (c[1] * x + c[3] * x * x) + c[4] * (x * y)
    return surface, sigma


@dataclass
class Ink:
    """The ink of a page: ``ink`` (H, W) float32 in [0, 1], 1 the ink's full strength and 0 the paper;
    ``low`` the level below which a pixel is taken for paper (noise); ``dark_on_light`` the polarity found."""

    ink: np.ndarray
    low: float
    dark_on_light: bool


def flatten(gray: np.ndarray, source: str = "image") -> Ink:
    """The page with its paper made uniformly 0 and its ink 1, whichever the polarity and the lighting.

    The polarity is the side of the paper's surface where the large outliers lie (dark ink on light paper has
    them below). For dark ink the ink's strength is the fraction of the paper's light it absorbs,
    ``1 - gray / paper``, so a shadow that dims paper and ink alike leaves it unchanged; for light ink on a dark
    ground it is the difference ``gray - paper``. The scale is the ink's strongest level, taken over 2x2 blocks
    so that a single hot pixel does not set it.
    """
    surface, sigma = background_surface(gray)
    residuals = gray - surface
    threshold = 4.0 * sigma + 0.02
    dark_mass = np.maximum(-residuals - threshold, 0).sum()
    light_mass = np.maximum(residuals - threshold, 0).sum()
    dark_on_light = bool(dark_mass > light_mass)
    if dark_on_light:
        paper = np.maximum(surface, 0.05)
        ink = 1.0 - gray / paper
        noise = sigma / float(np.median(paper))
    else:
        ink = residuals
        noise = sigma
    blocks = np.minimum(np.minimum(ink[:-1, :-1], ink[1:, :-1]), np.minimum(ink[:-1, 1:], ink[1:, 1:]))
    top = float(blocks.max()) if blocks.size else float(ink.max())
    if top <= 0.1 or top <= 6.0 * noise:
        raise MatnetError(f"{source}: no digit found (the image is blank or has no contrast)")
    ink = np.clip(ink / top, 0.0, 1.0).astype(np.float32)
    return Ink(ink=ink, low=max(NOISE_FLOOR, 4.0 * noise / top), dark_on_light=dark_on_light)


# 3. Threshold --------------------------------------------------------------------------------------------------

def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of values in [0, 1]: the level that maximises the variance between the two classes it
    makes (for an image of ink on paper, the level between the two peaks of its histogram)."""
    which = np.clip((np.ravel(values) * bins).astype(np.int64), 0, bins - 1)
    counts = np.bincount(which, minlength=bins).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    weight0 = np.cumsum(counts)
    weight1 = weight0[-1] - weight0
    mass0 = np.cumsum(counts * centres)
    mean0 = mass0 / np.maximum(weight0, 1e-12)
    mean1 = (mass0[-1] - mass0) / np.maximum(weight1, 1e-12)
    between = weight0 * weight1 * (mean0 - mean1) ** 2
    return float(edges[int(np.argmax(between)) + 1])


# 4. Connected components and the digit -------------------------------------------------------------------------

def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The 8-connected components of a boolean mask: (labels, count), labels (H, W) int32, 0 for background.

    The runs of True along each row are the nodes; a run is joined (union-find) to each run of the row above
    that it touches, diagonals included, found by walking the two rows' runs together. Python visits runs, not
    pixels, and the labels are painted back with a cumulative sum.
    """
    h, w = mask.shape
    edges = np.diff(np.pad(mask.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    run_rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)                      # exclusive; same row-major order as the starts
    first = np.searchsorted(run_rows, np.arange(h + 1))    # runs of row y: first[y] .. first[y + 1]
    parent = list(range(len(starts)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    starts_l, ends_l = starts.tolist(), ends.tolist()
    for y in range(1, h):
        i, i_end, j, j_end = first[y - 1], first[y], first[y], first[y + 1]
        while i < i_end and j < j_end:
            if starts_l[j] <= ends_l[i] and starts_l[i] <= ends_l[j]:
                a, b = find(i), find(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            if ends_l[i] < ends_l[j]:
                i += 1
            else:
                j += 1
    roots = np.array([find(i) for i in range(len(starts))], dtype=np.int64)
    unique, component = np.unique(roots, return_inverse=True)
    run_start = np.zeros(h * w, np.int32)
    run_start[run_rows * w + starts] = 1
    run_of_pixel = np.cumsum(run_start).reshape(h, w) - 1
    labels = np.where(mask, component.astype(np.int32)[np.maximum(run_of_pixel, 0)] + 1, 0).astype(np.int32)
    return labels, len(unique)


@dataclass
class Blobs:
    """Per component (index 0 is label 1): pixel count and bounding box (top, left, bottom, right; exclusive)."""

    area: np.ndarray
    top: np.ndarray
    left: np.ndarray
    bottom: np.ndarray
    right: np.ndarray

    @classmethod
    def of(cls, labels: np.ndarray, count: int) -> Blobs:
        ys, xs = np.nonzero(labels)
        which = labels[ys, xs] - 1
        area = np.bincount(which, minlength=count)
        top, left = np.full(count, labels.shape[0]), np.full(count, labels.shape[1])
        bottom, right = np.zeros(count, np.int64), np.zeros(count, np.int64)
        np.minimum.at(top, which, ys)
        np.minimum.at(left, which, xs)
        np.maximum.at(bottom, which, ys + 1)
        np.maximum.at(right, which, xs + 1)
        return cls(area, top, left, bottom, right)


def _dilate(a: np.ndarray, radius: int, pad: float = 0.0) -> np.ndarray:
    """Grey dilation (a running maximum) by ``radius`` pixels, 3x3 squares and crosses alternated so that the
    shape grown is an octagon, close to a disk; ``pad`` is the value outside the image."""
    for step in range(radius):
        p = np.pad(a, 1, constant_values=pad)
        cross = np.maximum.reduce([p[1:-1, 1:-1], p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]])
        a = np.maximum.reduce([cross, p[:-2, :-2], p[:-2, 2:], p[2:, :-2], p[2:, 2:]]) if step % 2 == 0 else cross
    return a


def _erode(a: np.ndarray, radius: int) -> np.ndarray:
    """Grey erosion (a running minimum) of ink in [0, 1] by ``radius`` pixels; outside the image is paper."""
    return 1.0 - _dilate(1.0 - a, radius, pad=1.0)


def _strong_mask(page: Ink) -> np.ndarray:
    """The pixels surely ink: above Otsu's threshold, and well above the noise."""
    high = min(max(otsu_threshold(page.ink), 2.0 * page.low, 0.2), 0.6)
    return page.ink > high


def _speck_area(area: np.ndarray) -> float:
    """Blobs under 2% of the largest blob's area (and under 3 pixels) are specks: noise, paper texture, dust."""
    return max(3.0, 0.02 * float(area.max()))


def digit_mask(page: Ink) -> np.ndarray:
    """The pixels of the one digit on the page (a boolean (H, W) mask), as described in step 4 above.

    The digit's main blob is the largest one that does not touch the page's edge (a ruled line or a mark at the
    margin usually does); a blob touching the edge is taken only when there is no other or it is four times
    larger and not a line (a tightly cropped digit). Blobs within a quarter of the digit's size of it, and not
    specks, are pieces of it. The mask is then the ink above the noise level within two pixels of those blobs.
    """
    labels, count = label_components(_strong_mask(page))
    if count == 0:
        raise MatnetError("no digit found (the image is blank or has no contrast)")
    blobs = Blobs.of(labels, count)
    h, w = labels.shape
    edge = (blobs.top == 0) | (blobs.left == 0) | (blobs.bottom == h) | (blobs.right == w)
    heights, widths = blobs.bottom - blobs.top, blobs.right - blobs.left
    line = np.maximum(heights, widths) > 10 * np.minimum(heights, widths)
    inner = np.flatnonzero(~edge)
    main = int(np.argmax(blobs.area))
    if inner.size:
        best_inner = int(inner[np.argmax(blobs.area[inner])])
        if edge[main] and (line[main] or blobs.area[main] < 4 * blobs.area[best_inner]):
            main = best_inner
    kept = np.zeros(count, bool)
    kept[main] = True
    reach = 0.25 * max(heights[main], widths[main])
    candidate = (blobs.area >= max(3.0, 0.02 * float(blobs.area[main]))) & ~line
    while True:                                  # grow the digit by the pieces near it, until none is left
        top, left = blobs.top[kept].min(), blobs.left[kept].min()
        bottom, right = blobs.bottom[kept].max(), blobs.right[kept].max()
        dy = np.maximum(np.maximum(top - blobs.bottom, blobs.top - bottom), 0)
        dx = np.maximum(np.maximum(left - blobs.right, blobs.left - right), 0)
        near = candidate & ~kept & (np.hypot(dy, dx) <= reach)
        if not near.any():
            break
        kept |= near
    top, left = max(int(top) - 2, 0), max(int(left) - 2, 0)
    window = (slice(top, int(bottom) + 2), slice(left, int(right) + 2))
    chosen = np.isin(labels[window], np.flatnonzero(kept) + 1)
    mask = np.zeros(labels.shape, bool)
    mask[window] = (page.ink[window] > page.low) & (_dilate(chosen.astype(np.float32), 2) > 0)
    return mask


def find_ink(gray: np.ndarray, source: str = "image") -> tuple[Ink, np.ndarray]:
    """Steps 2-4 on a working copy of the page: (its ``Ink``, the digit's mask)."""
    page = flatten(gray, source)
    try:
        return page, digit_mask(page)
    except MatnetError as err:
        raise MatnetError(f"{source}: {err}") from None


# 5. Stroke width -----------------------------------------------------------------------------------------------

def _resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A float image resampled (Lanczos) to ``size`` = (width, height), clipped to [0, 1]."""
    out = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32), mode="F").resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(out), 0.0, 1.0)


def _at_side(digit: np.ndarray, side: int) -> np.ndarray:
    """The digit resampled so that its longer side is ``side`` pixels, keeping its aspect ratio."""
    h, w = digit.shape
    scale = side / max(h, w)
    return _resize(digit, (max(1, round(w * scale)), max(1, round(h * scale))))


def stroke_width(digit: np.ndarray) -> float:
    """The mean width of the strokes of a digit (ink in [0, 1]), in pixels: the ink's area over the length of
    its strokes, the length being a quarter of the number of ink/paper edges between pixels times pi/2 (a
    stroke has two sides, and a side at a random angle crosses 4/pi times as many pixel edges as its length)."""
    ink = np.pad(digit > 0.5, 1)
    area = ink.sum()
    edges = (ink[1:] != ink[:-1]).sum() + (ink[:, 1:] != ink[:, :-1]).sum()
    return float(8.0 * area / (np.pi * max(edges, 1)))


def normalise_stroke(digit: np.ndarray) -> np.ndarray:
    """A digit drawn with a pen far thinner or thicker than MNIST's, redrawn at MNIST's stroke width.

    The digit (cropped to its box) is measured at ``STROKE_SIDE`` pixels; outside ``STROKE_RANGE`` times
    ``MNIST_STROKE`` it is dilated or eroded there by half the difference, then cropped again. Within the range
    it is returned unchanged (MNIST's own strokes vary by about that much, and the model has seen them all).
    """
    work = _at_side(digit, STROKE_SIDE)
    width = stroke_width(work)
    low, high = STROKE_RANGE
    if low * MNIST_STROKE <= width <= high * MNIST_STROKE:
        return digit
    radius = round(abs(MNIST_STROKE - width) / 2)
    if radius == 0:
        return digit
    if width < MNIST_STROKE:       # a faint hairline spreads at its own level: bring its core to full ink
        work = _dilate(np.pad(work, radius), radius)
        work = np.clip(work / max(float(np.percentile(work[work > NOISE_FLOOR], 90)), 0.1), 0.0, 1.0)
    else:                          # eroded as a shape: a grey minimum would spread a stroke's faintest pixel
        eroded = _erode((work > 0.5).astype(np.float32), radius)
        work = eroded if eroded.sum() >= 0.15 * (work > 0.5).sum() else work      # never erase the digit
    rows, cols = np.flatnonzero(work.max(axis=1) > NOISE_FLOOR), np.flatnonzero(work.max(axis=0) > NOISE_FLOOR)
    return work[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] if rows.size else digit


# 6. The 28x28 field --------------------------------------------------------------------------------------------

def fit_field(digit: np.ndarray) -> np.ndarray:
    """A digit cropped to its bounding box -> (28, 28) float32: scaled so that its longer side is 20 pixels,
    keeping its aspect ratio, and placed with its centre of mass at (14, 14)."""
    digit = _at_side(digit, BOX)
    ys, xs = np.indices(digit.shape)
    mass = max(float(digit.sum()), 1e-12)
    cy, cx = (ys * digit).sum() / mass, (xs * digit).sum() / mass
    top_row = int(np.clip(round(FIELD / 2 - cy), 0, FIELD - digit.shape[0]))
    left_col = int(np.clip(round(FIELD / 2 - cx), 0, FIELD - digit.shape[1]))
    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    field[top_row:top_row + digit.shape[0], left_col:left_col + digit.shape[1]] = digit
    return field


def _check_gray(gray: np.ndarray, source: str) -> np.ndarray:
    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2 or min(gray.shape) < 2:
        raise MatnetError(f"{source}: expected a 2-D image, got shape {gray.shape}")
    if not np.isfinite(gray).all():
        raise MatnetError(f"{source}: the image has NaN or infinite pixels")
    return gray


def _crop(ink: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The ink under the mask, cropped to the mask's bounding box (zero elsewhere)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    return np.where(mask[box], ink[box], 0.0).astype(np.float32)


def to_mnist(gray: np.ndarray, source: str = "image") -> np.ndarray:
    """(H, W) grayscale in [0, 1], either polarity -> (28, 28) float32 in [0, 1], a light digit on black."""
    gray, _ = reduce(_check_gray(gray, source))
    page, mask = find_ink(gray, source)
    return fit_field(normalise_stroke(_crop(page.ink, mask)))


def load_digit(path: str | Path) -> np.ndarray:
    """An image file -> the 28x28 MNIST-style input a model sees."""
    return to_mnist(read_gray(path), str(path))


# Several digits ------------------------------------------------------------------------------------------------

DIGIT_ASPECT = 0.85         # a digit's usual width over its height (MNIST's median is 0.8; a "1" is 0.5, a "2" 1.0)
MIN_ASPECT = 0.3            # a blob is cut into at most width / (this x height) digits
CUT_COST = 0.5              # a cut costs this much log-confidence per stroke it crosses ...
VALLEY = 1.0                # ... less this much per line height of the valley it lies in


def _shape_prior(wide: float, tall: float) -> float:
    """The log-plausibility of a digit this wide and this tall for the line's height: flat where MNIST's digits
    lie (they all fit in a 20x20 box, so hardly any is wider than the line is high, and a digit shorter than
    half the line is more likely a fragment), falling off steeply outside."""
    return -(max(0.12 - wide, 0.0, wide - 1.0) / 0.07) ** 2 - (max(0.55 - tall, 0.0) / 0.1) ** 2


def _cut_candidates(profile: np.ndarray, height: float, most: int = 8) -> list[int]:
    """Columns where touching digits may be cut: the ``most`` thinnest local minima of the ink's column profile
    (lightly smoothed), at least a sixth of a digit's height from either end."""
    smooth = np.convolve(profile, np.ones(3) / 3, mode="same")
    margin = max(1, int(height / 6))
    inner = np.arange(margin, len(profile) - margin)
    minima = [i for i in inner if smooth[i] <= smooth[i - 1] and smooth[i] <= smooth[i + 1]]
    return sorted(sorted(minima, key=lambda i: smooth[i])[:most])


def _even_cuts(profile: np.ndarray, pieces: int) -> list[int]:
    """Cuts into ``pieces``: near each evenly spaced position, the column where the ink is thinnest."""
    width = len(profile)
    cuts = []
    for k in range(1, pieces):
        centre, half = k * width / pieces, width / (3 * pieces)
        lo, hi = max(1, int(centre - half)), min(width - 1, int(np.ceil(centre + half)) + 1)
        cuts.append(lo + int(np.argmin(profile[lo:hi])) if hi > lo else int(centre))
    return cuts


def _segment(chosen: np.ndarray, height: float, read, classify) -> list[tuple[int, int]]:
    """How to cut one blob (``chosen``, its mask in a window around it) into digits: a list of column ranges.

    By geometry alone (no ``classify``): as many digits as its width holds at ``DIGIT_ASPECT`` times the line's
    height, cut where the ink is thinnest. With ``classify`` (28x28 fields -> class probabilities), every way of
    cutting it at up to three of its thinnest columns is read and scored: per piece, the log of the model's
    confidence and the plausibility of its width and height next to the line's (a fragment of a digit is
    usually short, two digits read as one too wide); per cut, ``CUT_COST`` times the strokes it crosses (a
    cut through a loop crosses two), less ``VALLEY`` times the depth of the valley it lies in (two touching
    digits make a deep valley in the column profile between their two tall bodies). The best score wins.
    The model is sure of fragments of digits too, which is why the shapes and the cuts weigh in.
    ``read(a, b)`` is the field of columns a..b (None when they hold no ink).
    """
    profile = chosen.sum(axis=0).astype(np.float64)
    width = len(profile)
    inked = np.flatnonzero(profile > 0)
    extent = inked[-1] + 1 - inked[0] if inked.size else 0
    guess = max(1, round(extent / (DIGIT_ASPECT * height)))
    default = (0, *_even_cuts(profile, guess), width)
    if classify is None:
        return list(zip(default[:-1], default[1:]))
    most = min(3, int(extent / (MIN_ASPECT * height)))
    options = {default}
    for k in range(0, most + 1):
        for cuts in combinations(_cut_candidates(profile, height), k):
            options.add((0, *cuts, width))
    ranges = sorted({(a, b) for bounds in options for a, b in zip(bounds[:-1], bounds[1:])})
    fields = {r: read(*r) for r in ranges}
    readable = [r for r in ranges if fields[r] is not None]
    if not readable:
        return list(zip(default[:-1], default[1:]))
    confidence = dict(zip(readable, classify([fields[r] for r in readable]).max(axis=1)))
    stroke = max(stroke_width(chosen.astype(np.float32)), 1.0)

    def piece_score(a, b):
        rows, cols = np.flatnonzero(chosen[:, a:b].any(axis=1)), np.flatnonzero(chosen[:, a:b].any(axis=0))
        if (a, b) not in confidence or not rows.size:
            return -np.inf
        tall, wide = (rows[-1] + 1 - rows[0]) / height, (cols[-1] + 1 - cols[0]) / height
        return np.log(max(float(confidence[a, b]), 1e-6)) + _shape_prior(wide, tall)

    reach = max(2, int(0.4 * height))

    def cut_cost(c):
        """Strokes crossed, less a bonus for a deep valley between two tall bodies (where digits touch)."""
        bridge = max(profile[c - 1:c + 2].min(), 1.0)
        depth = min(profile[max(c - reach, 0):c].max(), profile[c:c + reach].max()) - bridge
        return CUT_COST * bridge / stroke - VALLEY * max(depth, 0.0) / height

    def score(bounds):
        cuts = sum(cut_cost(c) for c in bounds[1:-1])
        return sum(piece_score(a, b) for a, b in zip(bounds[:-1], bounds[1:])) - cuts

    best = max(sorted(options), key=score)
    return list(zip(best[:-1], best[1:]))


def _piece(ink: np.ndarray, low: float, chosen: np.ndarray, a: int, b: int) -> np.ndarray | None:
    """The mask of columns a..b of a blob (``chosen``, the blob's mask within the window ``ink``), or None: the
    crumbs the cut leaves of a neighbouring digit (under 15% of the largest piece) dropped, the faint edges taken
    back within two pixels but not across the cut."""
    part = np.zeros(chosen.shape, bool)
    part[:, a:b] = chosen[:, a:b]
    labels, count = label_components(part)
    if count == 0:
        return None
    area = np.bincount(labels.ravel())[1:]
    part = np.isin(labels, np.flatnonzero(area >= 0.15 * area.max()) + 1)
    mask = (ink > low) & (_dilate(part.astype(np.float32), 2) > 0)
    mask[:, :max(a - 1, 0)] = False
    mask[:, b + 1:] = False
    return mask


@dataclass
class _Group:
    """The blobs that make one digit, or several touching digits: their labels minus one and their boxes."""

    ids: list[int]
    top: list[int]
    left: list[int]
    bottom: list[int]
    right: list[int]

    def add(self, blobs: Blobs, i: int) -> None:
        for name in ("top", "left", "bottom", "right"):
            getattr(self, name).append(int(getattr(blobs, name)[i]))
        self.ids.append(i)

    def overlap(self, blobs: Blobs, i: int) -> int:
        """How many columns blob i shares with the group (negative: the gap between them)."""
        return min(max(self.right), int(blobs.right[i])) - max(min(self.left), int(blobs.left[i]))


def _digit_groups(blobs: Blobs) -> tuple[list[_Group], float]:
    """The blobs of a written number gathered into digits, left to right, and the line's height.

    Specks and ruled lines are dropped. The line's height is the tallest blob's (MNIST's digits fit a 20x20
    box, so a wide digit is shorter than the others, none taller). Blobs at least half as tall are digits (or
    touching digits), merged when they share most of their columns (a "4" written in two strokes); shorter
    blobs are pieces (the detached bar of a "5") joined to the digit whose columns they share or that they
    nearly touch, and dropped as specks when they are small and alone.
    """
    count = len(blobs.area)
    heights, widths = blobs.bottom - blobs.top, blobs.right - blobs.left
    line = np.maximum(heights, widths) > 10 * np.minimum(heights, widths)
    kept = [i for i in range(count) if blobs.area[i] >= _speck_area(blobs.area) and not line[i]]
    if not kept:
        return [], 0.0
    height = float(max(heights[i] for i in kept))
    groups: list[_Group] = []
    for i in sorted((i for i in kept if heights[i] >= 0.5 * height), key=lambda i: blobs.left[i]):
        near = [g for g in groups if g.overlap(blobs, i) >= 0.5 * min(widths[i], max(g.right) - min(g.left))]
        if near:
            near[0].add(blobs, i)
        else:
            groups.append(_Group([], [], [], [], []))
            groups[-1].add(blobs, i)
    largest = max(blobs.area[i] for i in kept)
    for i in (i for i in kept if heights[i] < 0.5 * height):
        best = max(groups, key=lambda g: g.overlap(blobs, i), default=None)
        if best is not None and best.overlap(blobs, i) > -0.15 * height:
            best.add(blobs, i)
        elif blobs.area[i] >= 0.1 * largest:
            groups.append(_Group([], [], [], [], []))
            groups[-1].add(blobs, i)
    return sorted(groups, key=lambda g: min(g.left)), height


def split_digits(gray: np.ndarray, source: str = "image", classify=None) -> list[tuple[dict, np.ndarray]]:
    """A written number -> its digits, left to right: a list of (box, (28, 28) float32 field).

    The ink is found as for one digit (steps 2-3), then cut into blobs; specks and ruled lines are dropped, and
    blobs that share most of their columns are one digit (a "5" written in two strokes). A blob may hold several
    touching digits: ``_segment`` decides how many and where to cut, by its width against the line's height and,
    given ``classify`` (a function from a list of 28x28 fields to class probabilities), by what the model reads
    in each way of cutting it. ``box`` is {x, y, width, height} in the image's pixels.
    """
    gray = _check_gray(gray, source)
    work, factor = reduce(gray)
    page = flatten(work, source)
    labels, count = label_components(_strong_mask(page))
    groups, height = _digit_groups(Blobs.of(labels, count))
    if not groups:
        raise MatnetError(f"{source}: no digit found (the image is blank or has no contrast)")
    digits = []
    for group in groups:
        top, left = max(min(group.top) - 3, 0), max(min(group.left) - 3, 0)
        bottom, right = max(group.bottom) + 3, max(group.right) + 3
        ink = page.ink[top:bottom, left:right]
        chosen = np.isin(labels[top:bottom, left:right], np.array(group.ids) + 1)
        pieces: dict[tuple[int, int], tuple[np.ndarray, np.ndarray] | None] = {}

        def piece(a, b, ink=ink, chosen=chosen, pieces=pieces):
            """Columns a..b of the blob: (mask, 28x28 field), or None; each made once."""
            if (a, b) not in pieces:
                mask = _piece(ink, page.low, chosen, a, b)
                pieces[a, b] = None if mask is None else (mask, fit_field(normalise_stroke(_crop(ink, mask))))
            return pieces[a, b]

        def read(a, b, piece=piece):
            made = piece(a, b)
            return None if made is None else made[1]

        for a, b in _segment(chosen, max(height, 1.0), read, classify):
            if (made := piece(a, b)) is None:
                continue
            mask, field = made
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            box = {"x": round((left + cols[0]) * factor), "y": round((top + rows[0]) * factor),
                   "width": round((cols[-1] + 1 - cols[0]) * factor),
                   "height": round((rows[-1] + 1 - rows[0]) * factor)}
            digits.append((box, field))
    return digits


def save_gray(array: np.ndarray, path) -> None:
    """A [0, 1] float image as an 8-bit grayscale PNG (``path`` a file name or a binary file object)."""
    Image.fromarray(np.round(np.clip(array, 0, 1) * 255).astype(np.uint8), mode="L").save(path, format="PNG")
