"""Steps 2 and 3: the paper's brightness fitted by a smooth surface, the polarity read from it and the ink measured
against it (``flatten``, an ``Ink``); the threshold between ink and paper (``otsu_threshold``). And ``NoDigit``,
the one error of every step that finds no digit (this step is the first that can)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matnet.errors import MatnetError

__all__ = ["Ink", "NOISE_FLOOR", "NoDigit", "background_surface", "flatten", "otsu_threshold"]

NOISE_FLOOR = 0.05          # ink fainter than this (on a scale where the ink is 1) is paper, however clean


class NoDigit(MatnetError):
    """An image with no digit in it: ``SOURCE: no digit found (WHY)``, the one message of every step that finds
    none (for one digit or a number), ``why`` one of the reasons below. ``matnet serve`` answers it with 422."""

    BLANK = "the image is blank or has no contrast"
    ONLY_FORM_LINES = "the image is blank, has no contrast, or holds only the lines of a form"
    EMPTY_FIELD = "an empty form field: only a speck inside its lines"
    ONLY_A_LINE = "only a line: an underline or a ruled line without a digit"

    def __init__(self, source: str, why: str):
        super().__init__(f"{source}: no digit found ({why})")
        self.source = source
        self.why = why


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
        raise NoDigit(source, NoDigit.BLANK)
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
