"""Step 4: the connected blobs of ink (``label_components``, ``Blobs``) and the one that is the digit
(``digit_mask``, ``find_ink``): the largest away from the page's edge, with its pieces; specks and lines dropped."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matnet.data.images.ink import Ink, NoDigit, flatten, otsu_threshold

__all__ = ["Blobs", "PAPER_SHARE", "digit_mask", "dilate", "erode", "fill_holes", "find_ink", "find_paper",
           "label_components", "speck_area", "strong_mask"]

PAPER_SHARE = 0.08          # light "ink" this large a share of the page, filling its box, is a sheet of paper

def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The 8-connected components of a boolean mask: (labels, count), labels (H, W) int32, 0 for background.

    The runs of True along each row are the nodes; a run is joined (union-find) to each run of the row above
    that it touches, diagonals included, found by walking the two rows' runs together. Python visits runs, not
    pixels, and the labels are painted back with a cumulative sum.
    """
    h, w = mask.shape
    if not mask.any():                                     # no runs to join (a page whose ink was all form lines)
        return np.zeros((h, w), np.int32), 0
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


def dilate(a: np.ndarray, radius: int, pad: float = 0.0) -> np.ndarray:
    """Grey dilation (a running maximum) by ``radius`` pixels, 3x3 squares and crosses alternated so that the
    shape grown is an octagon, close to a disk; ``pad`` is the value outside the image."""
    for step in range(radius):
        p = np.pad(a, 1, constant_values=pad)
        cross = np.maximum.reduce([p[1:-1, 1:-1], p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]])
        a = np.maximum.reduce([cross, p[:-2, :-2], p[:-2, 2:], p[2:, :-2], p[2:, 2:]]) if step % 2 == 0 else cross
    return a


def erode(a: np.ndarray, radius: int) -> np.ndarray:
    """Grey erosion (a running minimum) of ink in [0, 1] by ``radius`` pixels; outside the image is paper."""
    return 1.0 - dilate(1.0 - a, radius, pad=1.0)


def strong_mask(page: Ink) -> np.ndarray:
    """The pixels surely ink: above Otsu's threshold, and well above the noise."""
    high = min(max(otsu_threshold(page.ink), 2.0 * page.low, 0.2), 0.6)
    return page.ink > high


def speck_area(area: np.ndarray) -> float:
    """Blobs under 2% of the largest blob's area (and under 3 pixels) are specks: noise, paper texture, dust."""
    return max(3.0, 0.02 * float(area.max()))


def _longest_run(a: np.ndarray, axis: int) -> int:
    """The longest run of True along ``axis`` of a boolean array (0 for none)."""
    run = np.zeros(np.delete(a.shape, axis), np.int32)
    best = 0
    for line in np.moveaxis(a, axis, 0):
        run = (run + 1) * line
        best = max(best, int(run.max(initial=0)))
    return best


def _ruled(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows and the columns of a page's ruled lines (lined or squared paper): three or more thin lines of
    ink, each across over 90% of the page. A digit has at most two bars that long (a tightly cropped "7" one)."""
    found = []
    for axis in (1, 0):                                     # rows (summed along axis 1), then columns
        full = mask.sum(axis=axis) >= 0.9 * mask.shape[axis]
        runs = int(np.count_nonzero(np.diff(full.astype(np.int8), prepend=0) == 1))
        thin = _longest_run(full[:, None], 0) <= max(3.0, 0.015 * len(full))
        found.append(full if runs >= 3 and thin else np.zeros_like(full))
    return found[0], found[1]


def _bridged(kept: np.ndarray, gone: np.ndarray, axis: int) -> np.ndarray:
    """The removed line pixels ``gone`` that a stroke of ``kept`` crosses: ink within the lines' thickness (plus
    one) on both sides of them, along ``axis`` (0: up and down, for a horizontal line)."""
    if not gone.any():
        return gone
    reach = _longest_run(gone, axis) + 1
    before, after = np.zeros_like(kept), np.zeros_like(kept)
    n = kept.shape[axis]
    for k in range(1, min(reach, n - 1) + 1):
        ahead = [slice(None)] * 2
        behind = [slice(None)] * 2
        ahead[axis], behind[axis] = slice(k, None), slice(None, n - k)
        before[tuple(ahead)] |= kept[tuple(behind)]         # ink k pixels before
        after[tuple(behind)] |= kept[tuple(ahead)]          # ink k pixels after
    return gone & before & after


def remove_form_lines(mask: np.ndarray) -> np.ndarray:
    """The ink ``mask`` without the straight lines of a form: the ruled lines of lined or squared paper, a frame
    drawn around a digit, a comb field (a row of boxes, one digit each), an underline or a ruled line the digit
    touches; where a stroke crosses a line taken away, the stroke is kept whole (``_bridged``).

    The page's ruled lines go first (``_ruled``). Then, in each blob's bounding box, a row that the blob fills over
    60% of the box's width is part of a horizontal line, a column filled over 60% of its height part of a vertical
    one. A blob with rows filled over 90% near its top and bottom and such columns near its left and right, each
    line at most 8% of the box's side thick (a square "0" has thicker walls) and starting within that of the box's
    edge (a bold rounded "0" fills whole rows only well inside its box), is a frame (or a comb: its inner full
    columns are the separators), whatever it holds: all its line rows and columns go, a digit that touched it stays,
    and an empty field leaves nothing (no digit, rather than the box read as one). A blob whose line rows (or
    columns) run past the rest of its ink by half the rest's width (height) on both sides, that rest a quarter of it
    or more, is a digit on a line: the line goes (a "7"'s bar or a "4"'s stem ends where the digit does, on one side
    at least), unless the rest is a bar across the lines (on both sides of one), over twice as long as its width
    along them and at least as long as they run past it: a "+", or a blocky "4" whose two stems each fill over 60%
    of its height. A blob that is all line, or nearly (a "1"), is left to ``digit_mask``'s test for lines.
    """
    ruled_rows, ruled_cols = _ruled(mask)
    across_gone = mask & ruled_rows[:, None]                 # the pixels of horizontal lines taken away
    down_gone = mask & ruled_cols[None, :]                   # and of vertical ones
    labels, count = label_components(mask & ~(across_gone | down_gone))
    if count == 0:                                           # nothing but ruled lines (an empty page of a notebook)
        return mask & ~(across_gone | down_gone)
    blobs = Blobs.of(labels, count)
    heights, widths = blobs.bottom - blobs.top, blobs.right - blobs.left
    for c in np.flatnonzero((np.maximum(heights, widths) >= 12) & (blobs.area >= speck_area(blobs.area))):
        top, left, bottom, right = blobs.top[c], blobs.left[c], blobs.bottom[c], blobs.right[c]
        own = labels[top:bottom, left:right] == c + 1
        h, w = own.shape
        across, down = own.sum(axis=1) / w, own.sum(axis=0) / h       # how much of each row, each column, it fills
        full_rows, full_cols = across >= 0.9, down >= 0.9             # a frame's lines run the whole box
        ends = max(1, h // 4), max(1, w // 4)
        # a form's lines are thin for its box (at most 8% of its side); a square "0" or a solid bar has thick ones
        thin = max(2.0, 0.08 * min(h, w))
        sides = (full_rows[:ends[0]].sum(), full_rows[-ends[0]:].sum(), full_cols[:ends[1]].sum(),
                 full_cols[-ends[1]:].sum())
        # and they start at the box's edge: a bold rounded "0" fills whole rows only where its curves end, inside
        first = (np.argmax(full_rows), np.argmax(full_rows[::-1]), np.argmax(full_cols), np.argmax(full_cols[::-1]))
        if all(0 < side <= thin for side in sides) and max(first) <= thin:     # a frame or comb: around ink,
            across_gone[top:bottom, left:right] |= own & full_rows[:, None]    # touching it, or empty (an empty
            down_gone[top:bottom, left:right] |= own & full_cols[None, :]      # field is no digit)
            continue
        drops = [np.zeros_like(own), np.zeros_like(own)]                     # lines across, rules down
        for fill, axis in ((across, 0), (down, 1)):                   # rows: a line across; columns: a rule down
            lines = fill >= 0.6
            if not lines.any():
                continue
            on_line = own & (lines[:, None] if axis == 0 else lines[None, :])
            rest = own & ~on_line
            if rest.sum() < 0.25 * own.sum():          # all line, or nearly (a "1", a bar): not a digit on a line
                continue
            extent = np.flatnonzero(rest.any(axis=axis))                # the rest's columns (or rows)
            reach = np.flatnonzero(on_line.any(axis=axis))              # the line's
            span = extent[-1] + 1 - extent[0]
            past = min(extent[0] - reach[0], reach[-1] - extent[-1])
            side = np.flatnonzero(rest.any(axis=1 - axis))                # the rest's rows (or columns)
            at = np.flatnonzero(lines)
            long = side[-1] + 1 - side[0]
            if side[0] < at[-1] and side[-1] > at[0] and span < 0.5 * long and past < long:
                continue                               # a bar crossing the lines, no longer than they: a "+", a "4"
            if past >= 0.5 * span:
                drops[axis] |= on_line                 # a line running well past the ink on both sides: a form's
        if (own & ~(drops[0] | drops[1])).sum() >= 0.25 * own.sum():   # never all of a blob: a "+" is two lines
            across_gone[top:bottom, left:right] |= drops[0]
            down_gone[top:bottom, left:right] |= drops[1]
    out = mask & ~(across_gone | down_gone)
    return out | _bridged(out, across_gone, 0) | _bridged(out, down_gone, 1)     # strokes across a line kept whole


def digit_mask(page: Ink, source: str = "image") -> np.ndarray:
    """The pixels of the one digit on the page (a boolean (H, W) mask), as described in step 4 above.

    The digit's main blob is the largest one that does not touch the page's edge (a ruled line or a mark at the
    margin usually does); a blob touching the edge is taken only when there is no other or it is four times larger
    and not a line (a tightly cropped digit). Blobs within a quarter of the digit's size of it, and not specks, are
    pieces of it; a straight thin upright one too (a 9's stem drawn apart from its loop) unless it is over half
    again as long as the digit (a rule), but never a flat one (an underline, a ruled line). The mask is then the ink
    above the noise level within two pixels of those blobs, less the form lines removed and their edges (a box the
    digit touches is not taken back with it). A page with no digit is a ``NoDigit`` naming ``source``.
    """
    ink = strong_mask(page)
    unlined = remove_form_lines(ink)
    labels, count = label_components(unlined)
    if count == 0:
        raise NoDigit(source, NoDigit.ONLY_FORM_LINES)
    blobs = Blobs.of(labels, count)
    rows, cols = _ruled(ink)                # a notebook's ruled lines are no form field: a small digit among them
    lines_removed = int((ink & ~unlined & ~(rows[:, None] | cols[None, :])).sum())     # is not "a speck in a box"
    if lines_removed and blobs.area.max() < 0.02 * lines_removed:
        raise NoDigit(source, NoDigit.EMPTY_FIELD)
    real = blobs.area >= speck_area(blobs.area)
    if ((blobs.right - blobs.left) > 10 * (blobs.bottom - blobs.top))[real].all():
        raise NoDigit(source, NoDigit.ONLY_A_LINE)
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
    size = max(heights[main], widths[main])
    reach = 0.25 * size
    rule = line & ((widths > heights) | (heights > 1.5 * size))     # an upright stroke no longer than the digit is its
    candidate = (blobs.area >= max(3.0, 0.02 * float(blobs.area[main]))) & ~rule
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
    lines = dilate((ink & ~unlined)[window].astype(np.float32), 1) > 0     # form lines, with their faint edges
    mask = np.zeros(labels.shape, bool)
    mask[window] = (page.ink[window] > page.low) & (dilate(chosen.astype(np.float32), 2) > 0) & (chosen | ~lines)
    return mask


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with its holes filled: every region outside it that does not reach the image's edge."""
    labels, _ = label_components(np.pad(~mask, 1, constant_values=True))
    return (labels != labels[0, 0])[1:-1, 1:-1]          # the padded frame joins everything that reaches the edge


def _box_fill(mask: np.ndarray) -> float:
    """The share of its bounding box that a (non-empty) mask fills."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return float(mask.sum()) / float((rows[-1] + 1 - rows[0]) * (cols[-1] + 1 - cols[0]))


def find_paper(gray: np.ndarray, source: str = "image") -> Ink:
    """Step 2 with the paper found before the ink: ``flatten``, unless it finds light ink on a dark ground whose
    largest blob is a sheet (a sticky note, a page on a dark desk; when the light ink holds no blob that large, as
    when a sheet filling most of the photo leaves only its corners, the light side of Otsu's split of the photo's
    own grey levels is tried). A sheet is over ``PAPER_SHARE`` of the page;
    its holes filled, it covers over 70% of its bounding box; and a share of it is left once eroded by 10% of its
    longer side: 8% (of a thick chalk digit's strokes, 8% at most is: its loops may be slits), or 12% when the
    largest dark blob inside it is a solid loop (it fills 55% of its own box or more and holds no light of its
    own). The dark inside a chalk "0" or "8" is such a loop (49-76% of its box); so is a bold "9" whose loop
    closed, written on a note, but a note's wide light margins survive the erosion. A bold "0" or "8" fills
    60-70% of its box around its light counters: strokes, not a loop. What is off
    the sheet, and a margin of 3% of its side (its edge), is then made the sheet's paper and the page flattened
    again: the ink is what is written on the sheet. Where the sheet holds no ink, the first reading stands."""
    page = flatten(gray, source)
    if page.dark_on_light:
        return page
    light = strong_mask(page)
    labels, count = label_components(light)
    if count == 0 or np.bincount(labels.ravel())[1:].max() < PAPER_SHARE * gray.size:
        # a sheet filling most of the photo leaves the background's median only its corners as "light ink": the
        # photo's own light and dark (Otsu's split of its grey levels) show the sheet whole
        light = gray > otsu_threshold(np.clip(gray, 0.0, 1.0))
        labels, count = label_components(light)
        if count == 0:
            return page
    area = np.bincount(labels.ravel())[1:]
    if area.max() < PAPER_SHARE * gray.size:
        return page
    blob = labels == int(np.argmax(area)) + 1
    sheet = fill_holes(blob)
    written, found = label_components(sheet & ~light)
    if not found or _box_fill(sheet) < 0.7:
        return page
    loop = written == int(np.argmax(np.bincount(written.ravel())[1:])) + 1
    solid_loop = _box_fill(loop) >= 0.55 and fill_holes(loop).sum() < 1.02 * loop.sum()
    rows, cols = np.flatnonzero(sheet.any(axis=1)), np.flatnonzero(sheet.any(axis=0))
    side = max(rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0])
    if (erode(blob.astype(np.float32), round(0.1 * side)) > 0.5).sum() < (0.12 if solid_loop else 0.08) * blob.sum():
        return page                              # strokes, not a sheet: a chalk digit's body is gone
    margin = max(2, round(0.03 * side))
    inner = erode(sheet.astype(np.float32), margin) > 0.5
    if not inner.any():
        return page
    try:
        return flatten(np.where(inner, gray, np.median(gray[inner])).astype(np.float32), source)
    except NoDigit:
        return page


def find_ink(gray: np.ndarray, source: str = "image") -> tuple[Ink, np.ndarray]:
    """Steps 2-4 on a working copy of the page: (its ``Ink``, the digit's mask)."""
    page = find_paper(gray, source)
    return page, digit_mask(page, source)
