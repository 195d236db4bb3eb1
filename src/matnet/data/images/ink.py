"""Steps 2 and 3: the paper's brightness fitted by a smooth surface, the polarity read from it and the ink measured
against it (``flatten``, an ``Ink``); the threshold between ink and paper (``otsu_threshold``). And ``NoDigit``,
the one error of every step that finds no digit (this step is the first that can)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from matnet.errors import MatnetError

__all__ = ["GRID", "Ink", "NOISE_FLOOR", "NoDigit", "WINDOW", "background", "background_surface", "flatten",
           "local_background", "neighbour_noise", "otsu_threshold"]

NOISE_FLOOR = 0.05          # ink fainter than this (on a scale where the ink is 1) is paper, however clean
GRID = 48                   # the local background is measured in cells, this many along the page's longer side,
WINDOW = 15                 # as the median of the WINDOW x WINDOW cells around each (about a third of the page)


class NoDigit(MatnetError):
    """An image with no digit in it: ``SOURCE: no digit found (WHY)``, the one message of every step that finds
    none (for one digit or a number), ``why`` one of the reasons below. ``matnet serve`` answers it with 422."""

    BLANK = "the image is blank or has no contrast"
    ONLY_SHADING = "light and shade, but no ink that stands out from the paper"
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


def neighbour_noise(gray: np.ndarray) -> float:
    """The noise's standard deviation from the differences between horizontal neighbours, ``/ sqrt(2)``: blind to
    the background's shape, smooth or not (and, by the median absolute deviation, to the ink's few edges)."""
    step = max(1, min(gray.shape) // 300)
    rows = gray[::step].astype(np.float32)
    return _robust_sigma(rows[:, 1:] - rows[:, :-1]) / float(np.sqrt(2.0))


def _window_median(cells: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The median of the kept cells in the ``WINDOW`` x ``WINDOW`` cells around each cell; where a window keeps
    none, the median of all its cells. Beyond the page's edge a cell is ``2 v(edge) - v(mirror)`` (odd
    reflection): a window at the edge then sees a step that crosses the edge on the side of its centre cell, where
    plain mirroring would bend the step back into the window."""
    r = WINDOW // 2
    gh, gw = cells.shape

    def windows(a):
        return sliding_window_view(a, (WINDOW, WINDOW)).reshape(gh, gw, -1)

    mirrored = np.pad(cells, r, mode="reflect", reflect_type="odd")
    masked = windows(np.where(np.pad(keep, r, mode="reflect"), mirrored, np.nan))
    empty = np.isnan(masked).all(axis=-1)
    masked[empty] = windows(mirrored)[empty]
    return np.nanmedian(masked, axis=-1)


def _bilinear(n: int, cells: int, size: int) -> np.ndarray:
    """(n, cells) weights that interpolate between the centres of cells ``size`` pixels wide, for n pixels."""
    centres = (np.arange(cells) + 0.5) * size - 0.5
    at = np.clip(np.interp(np.arange(n), centres, np.arange(cells)), 0, cells - 1)
    low = np.minimum(np.floor(at).astype(int), max(cells - 2, 0))
    frac = (at - low).astype(np.float32)
    weights = np.zeros((n, cells), np.float32)
    weights[np.arange(n), low] = 1 - frac
    weights[np.arange(n), np.minimum(low + 1, cells - 1)] += frac
    return weights


def local_background(gray: np.ndarray, iterations: int = 4) -> np.ndarray:
    """The paper's brightness where it is no smooth surface (a shadow's edge across the page), at every pixel.

    The page is cut into cells (``GRID`` along its longer side) and each cell's mean taken; a cell's background is
    the median of the cells in the ``WINDOW`` x ``WINDOW`` around it. A median keeps a step where it lies (half
    the window on either side) and ignores the ink while the ink fills under half the window. The ink's side is
    the one where the cells lie further out; cells on that side by over 3 noise deviations (and 0.01) are left
    out of the next median, so that a dense digit's core, pulled towards the ink at first, is paper again.
    Between cells' centres the background is bilinear: ``B = Wy @ cells @ Wx.T``.
    """
    h, w = gray.shape
    size = max(1, int(np.ceil(max(h, w) / GRID)))
    gh, gw = -(-h // size), -(-w // size)
    padded = np.pad(gray.astype(np.float32), ((0, gh * size - h), (0, gw * size - w)), mode="edge")
    cells = padded.reshape(gh, size, gw, size).mean(axis=(1, 3))
    keep = np.ones(cells.shape, bool)
    sign = 0.0
    for _ in range(iterations):
        median = _window_median(cells, keep)
        residuals = cells - median
        limit = 3.0 * _robust_sigma(residuals[keep]) + 0.01
        if not sign:
            sign = -1.0 if np.maximum(-residuals - limit, 0).sum() > np.maximum(residuals - limit, 0).sum() else 1.0
        update = sign * residuals <= limit
        if np.array_equal(update, keep):
            break
        keep = update
    return _bilinear(h, gh, size) @ median.astype(np.float32) @ _bilinear(w, gw, size).T


def background(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """The paper's brightness at every pixel and the noise around it: the smooth surface
    (``background_surface``), unless the page's noise around it is over twice the noise between neighbouring
    pixels and the local background (``local_background``) halves it: then a shadow's edge or another step
    crosses the page, and the local background follows it."""
    surface, sigma = background_surface(gray)
    if sigma <= 2.0 * neighbour_noise(gray) + 0.005:
        return surface, sigma
    local = local_background(gray)
    local_sigma = _robust_sigma(gray - local)
    return (local, local_sigma) if local_sigma < 0.5 * sigma else (surface, sigma)


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
    surface, sigma = background(gray)
    residuals = gray - surface
    # the ink is the strongest thing on the page: a background that lags a soft shadow's edge leaves a wide band
    # of a tenth of the paper's light, which outweighs a thin pen's strokes unless only the strong outliers count
    strongest = max(float(np.percentile(residuals, 99.95)), float(np.percentile(-residuals, 99.95)))
    threshold = max(4.0 * sigma + 0.02, 0.5 * strongest)
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
    if top <= 0.1 or top <= 6.0 * noise:      # a page of high contrast is never called one of none
        spread = float(np.percentile(gray, 99) - np.percentile(gray, 1))
        raise NoDigit(source, NoDigit.ONLY_SHADING if spread > 0.2 else NoDigit.BLANK)
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
