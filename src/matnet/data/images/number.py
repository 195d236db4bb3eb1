"""A written number -> its digits, left to right: the blobs of steps 1-4 grouped into digits, touching digits cut
where the ink is thinnest (``split_digits``, geometry alone) or where a model reads each piece best
(``read_number``, which gives each digit's probabilities too, each field scored once); each digit then made a field
as ``to_mnist`` makes one. The model comes in as a ``predict_proba`` callable: ``data`` imports no network."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from matnet.data.images.components import (Blobs, dilate, find_ink, find_paper, label_components,
                                            remove_form_lines, speck_area, strong_mask)
from matnet.data.images.digit import check_gray, field_of
from matnet.data.images.ink import Ink, NoDigit
from matnet.data.images.read import reduce
from matnet.data.images.stroke import stroke_width

__all__ = ["CUT_COST", "DIGIT_ASPECT", "MIN_ASPECT", "UNSURE", "VALLEY", "WIDE", "count_marks", "marks_warning",
           "read_number", "split_digits", "to_mnist_counted", "unsure_digit_warning", "unsure_warning"]

DIGIT_ASPECT = 0.85         # a digit's usual width over its height (MNIST's median is 0.8; a "1" is 0.5, a "2" 1.0)
MIN_ASPECT = 0.3            # a blob is cut into at most width / (this x height) digits
CUT_COST = 0.5              # a cut costs this much log-confidence per stroke it crosses ...
VALLEY = 1.0                # ... less this much per line height of the valley it lies in
WIDE = 1.8                  # a blob wider than this many of its heights holds several digits when they are counted
UNSURE = 0.7                # a digit of a number read with less confidence than this is named in a warning


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


def _segment(chosen: np.ndarray, height: float, read, classify) -> tuple[list[tuple[int, int]], dict]:
    """How to cut one blob (``chosen``, its mask in a window around it) into digits: a list of column ranges, and
    the probabilities ``classify`` gave each range it read ({(a, b): (classes,)}; empty without ``classify``).

    By geometry alone (no ``classify``): as many digits as its width holds at ``DIGIT_ASPECT`` times the line's
    height, cut where the ink is thinnest. With ``classify`` ((N, 28, 28) fields -> (N, classes) probabilities,
    called once with every piece that some way of cutting makes), every way of
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
        return list(zip(default[:-1], default[1:])), {}
    most = min(3, int(extent / (MIN_ASPECT * height)))
    options = {default}
    for k in range(0, most + 1):
        for cuts in combinations(_cut_candidates(profile, height), k):
            options.add((0, *cuts, width))
    ranges = sorted({(a, b) for bounds in options for a, b in zip(bounds[:-1], bounds[1:])})
    fields = {r: read(*r) for r in ranges}
    readable = [r for r in ranges if fields[r] is not None]
    if not readable:
        return list(zip(default[:-1], default[1:])), {}
    probabilities = dict(zip(readable, np.asarray(classify(np.stack([fields[r] for r in readable])))))
    confidence = {r: p.max() for r, p in probabilities.items()}
    stroke = max(stroke_width(chosen.astype(np.float32)), 1.0)

    def piece_score(a, b):
        rows, cols = np.flatnonzero(chosen[:, a:b].any(axis=1)), np.flatnonzero(chosen[:, a:b].any(axis=0))
        if (a, b) not in confidence or not rows.size:
            return -np.inf
        tall, wide = (rows[-1] + 1 - rows[0]) / height, (cols[-1] + 1 - cols[0]) / height
        return np.log(max(float(confidence[a, b]), 1e-6)) + _shape_prior(wide, tall)

    reach = max(2, int(0.4 * height))

    def cut_cost(c):
        """Strokes crossed, less a bonus for a deep valley between two tall bodies (where digits touch), never
        below 0: a valley makes a cut cheap, not a gain (a 4's open middle is a deep valley too, and a model
        that is sure of both halves, as one trained on thin and blocky digits is, then read 4 as 61)."""
        bridge = max(profile[c - 1:c + 2].min(), 1.0)
        depth = min(profile[max(c - reach, 0):c].max(), profile[c:c + reach].max()) - bridge
        return max(CUT_COST * bridge / stroke - VALLEY * max(depth, 0.0) / height, 0.0)

    def score(bounds):
        cuts = sum(cut_cost(c) for c in bounds[1:-1])
        return sum(piece_score(a, b) for a, b in zip(bounds[:-1], bounds[1:])) - cuts

    best = max(sorted(options), key=score)
    return list(zip(best[:-1], best[1:])), probabilities


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
    mask = (ink > low) & (dilate(part.astype(np.float32), 2) > 0)
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

    Specks and ruled lines are dropped (a thin upright stroke is a "1" unless it is half again as tall as the
    other digits). The line's height is the tallest blob's (MNIST's digits fit a 20x20
    box, so a wide digit is shorter than the others, none taller). Blobs at least half as tall are digits (or
    touching digits), merged when they share most of their columns (a "4" written in two strokes); shorter
    blobs are pieces (the detached bar of a "5") joined to the digit whose columns they share or that they
    nearly touch, and dropped as specks when they are small and alone.
    """
    count = len(blobs.area)
    heights, widths = blobs.bottom - blobs.top, blobs.right - blobs.left
    line = widths > 10 * heights                           # a flat line: a rule, an underline
    thin = heights > 10 * widths                           # a "1" drawn straight, or a vertical rule
    others = [i for i in range(count) if blobs.area[i] >= speck_area(blobs.area) and not line[i] and not thin[i]]
    tallest = max((heights[i] for i in others), default=0)
    line |= thin & (heights > 1.5 * tallest) & (tallest > 0)   # a rule is taller than the digits beside it
    kept = [i for i in range(count) if blobs.area[i] >= speck_area(blobs.area) and not line[i]]
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


def _blobs(page: Ink) -> tuple[np.ndarray, list[_Group], float]:
    """A flattened page's ink cut into blobs: (labels, the blobs gathered into digits, the line's height)."""
    labels, count = label_components(remove_form_lines(strong_mask(page)))
    groups, height = _digit_groups(Blobs.of(labels, count))
    return labels, groups, height


def count_marks(page: Ink) -> int:
    """How many digit-sized marks a flattened page holds: its blobs gathered into digits as ``split_digits``
    gathers them, those over 0.6 of the line's height counted, one wider than ``WIDE`` times its height (or the
    line's, if taller) as the digits its width holds at ``DIGIT_ASPECT`` (a wide "0", a "2" with a long tail, stays
    one; two touching digits may count as one, three as three)."""
    _, groups, height = _blobs(page)
    count = 0
    for group in groups:
        tall, extent = max(group.bottom) - min(group.top), max(group.right) - min(group.left)
        if tall < 0.6 * height:
            continue                                 # a mark, not a digit: a "5"'s bar, a word in the margin
        tall = max(tall, height)
        count += round(extent / (DIGIT_ASPECT * tall)) if extent > WIDE * tall else 1
    return count


def marks_warning(count: int) -> str | None:
    """The warning for a page read as one digit that holds ``count`` digit-sized marks (None for one or none)."""
    return f"this image holds {count} digit-sized marks" if count > 1 else None


def unsure_warning(confidences: list[float]) -> str | None:
    """The warning for a number whose digits were read with these confidences (None when each is at least
    ``UNSURE``). Digits that overlap (a slanted hand, digits written over each other) cannot be cut by columns:
    the pieces are parts of two digits, and the model is unsure of them, where it is sure of the digits it reads
    right (those of the probe's heavily overlapping numbers were read at 48-75%, the others at 87-100%)."""
    unsure = [(k, c) for k, c in enumerate(confidences, start=1) if c < UNSURE]
    if not unsure:
        return None
    which = ", ".join(f"{k} ({100 * c:.1f}%)" for k, c in unsure)
    return (f"digit{'s' if len(unsure) > 1 else ''} {which} read with under {100 * UNSURE:.0f}% confidence: "
            f"overlapping or touching digits may be cut wrongly (see the cuts with --show-input)")


def unsure_digit_warning(confidence: float) -> str | None:
    """The warning for one digit read with less than ``UNSURE`` confidence (None otherwise): what the model saw may
    be no clear digit (a letter, a speck, a shadow's edge taken for ink), or an unusual one."""
    if confidence >= UNSURE:
        return None
    return (f"read with only {100 * confidence:.1f}% confidence: the image may hold no clear digit "
            f"(see what the model saw with --show-input)")


def to_mnist_counted(gray: np.ndarray, source: str = "image") -> tuple[np.ndarray, int]:
    """``to_mnist``'s field, and how many digit-sized marks the page holds (``count_marks``): over one, the image
    is likely a number, which ``to_mnist`` reads as its largest digit and ``read_number`` reads whole."""
    work, _ = reduce(check_gray(gray, source))
    page, mask = find_ink(work, source)
    return field_of(page.ink, mask), count_marks(page)


def split_digits(gray: np.ndarray, source: str = "image") -> list[tuple[dict, np.ndarray]]:
    """A written number -> its digits, left to right, cut by geometry alone: a list of (box, (28, 28) float32
    field). ``box`` is {x, y, width, height} in the image's pixels."""
    return [(box, field) for box, field, _ in _digits(gray, source, None)]


def read_number(gray: np.ndarray, predict_proba, source: str = "image") -> list[tuple[dict, np.ndarray, np.ndarray]]:
    """A written number read by a model, digit by digit, left to right: a list of (box, (28, 28) float32 field,
    (classes,) probabilities). ``predict_proba`` takes (N, 28, 28) fields to (N, classes) probabilities; it also
    decides where touching digits are cut (``_segment``), and each field is scored once: a digit's probabilities
    are those its cutting was decided by. ``matnet predict --multi`` reads numbers with it."""
    return _digits(gray, source, predict_proba)


def _digits(gray: np.ndarray, source: str, classify) -> list[tuple[dict, np.ndarray, np.ndarray | None]]:
    """The digits of a written number, left to right: (box, field, probabilities or None without ``classify``).

    The ink is found as for one digit (steps 2-3), then cut into blobs; specks and ruled lines are dropped, and
    blobs that share most of their columns are one digit (a "5" written in two strokes). A blob may hold several
    touching digits: ``_segment`` decides how many and where to cut, by its width against the line's height and,
    given ``classify``, by what the model reads in each way of cutting it. No digit at all is a ``NoDigit``.
    """
    gray = check_gray(gray, source)
    work, factor = reduce(gray)
    page = find_paper(work, source)
    labels, groups, height = _blobs(page)
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
                pieces[a, b] = None if mask is None else (mask, field_of(ink, mask))
            return pieces[a, b]

        def read(a, b, piece=piece):
            made = piece(a, b)
            return None if made is None else made[1]

        ranges, scored = _segment(chosen, max(height, 1.0), read, classify)
        for a, b in ranges:
            if (made := piece(a, b)) is None:
                continue
            mask, field = made
            if classify is not None and (a, b) not in scored:     # (every piece kept was read while cutting)
                scored[a, b] = np.asarray(classify(field[None]))[0]
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            box = {"x": round((left + cols[0]) * factor), "y": round((top + rows[0]) * factor),
                   "width": round((cols[-1] + 1 - cols[0]) * factor),
                   "height": round((rows[-1] + 1 - rows[0]) * factor)}
            digits.append((box, field, scored.get((a, b))))
    if not digits:
        raise NoDigit(source, NoDigit.ONLY_FORM_LINES)
    return digits
