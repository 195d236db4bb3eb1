"""Hard inputs for ``matnet predict``, made from real MNIST *test* digits: photographed or scanned pages.

Each kind adds one difficulty to a plain page (a dark digit 40-160 pixels tall, upscaled from its 28x28 image,
placed off-centre on near-white paper two to three times its size):

    plain     that page alone
    paper     grey or tinted paper, dark grey or blue ink, saved as RGB
    noise     grey paper and Gaussian sensor noise of 2-6 grey levels
    jpeg      grey paper, noise of 2 levels, saved as JPEG of quality 30-90
    shadow    the light across the page fading from 200 to 80 (paper and ink dimmed alike), any direction
    thin      a ball-point pen: the digit's skeleton drawn 1-3 pixels wide
    thick     a marker: the skeleton drawn with a round nib 1.6-2 times MNIST's stroke
    rotated   the digit turned by up to 15 degrees either way
    margin    a ruled line along one edge of the page and a row of text-like marks along another
    inverted  chalk on a blackboard: light ink on dark paper, noise of 2 levels
    combined  a random mix of all of the above (what people actually bring)

``hard_digit(kind, digit, rng)`` makes one page as a Pillow image (what a file would decode to); ``hard_set``
makes n pages of a kind from MNIST test digits drawn by a seed; ``number_page`` writes digits side by side as a
number, with varied spacing and touching pairs. ``framed_page``, ``comb_page`` and ``underlined_page`` put digits
on forms: in a drawn box, one to a box of a comb field, on a line. ``shadow_edge_page`` and ``sticky_note_page``
are phone photos: a shadow's soft edge across the page (``shadow_light``), a yellow note on a dark desk. Used by
tests/data/test_hard_digits.py, tests/cli/test_predict.py, tests/serve and bench/real_digits.py.
"""

from __future__ import annotations

import io
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = ["KINDS", "HardSet", "hard_digit", "hard_set", "number_page", "skeleton", "framed_page", "comb_page",
           "underlined_page", "shadow_light", "shadow_edge_page",
           "sticky_note_page", "ruled_paper_page"]

KINDS = ("plain", "paper", "noise", "jpeg", "shadow", "thin", "thick", "rotated", "margin", "inverted", "combined")


def skeleton(binary: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning: a boolean image reduced to one-pixel-wide lines through the middle of its strokes."""
    img = np.pad(binary.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            c = img[1:-1, 1:-1]
            p2, p3, p4, p5 = img[:-2, 1:-1], img[:-2, 2:], img[1:-1, 2:], img[2:, 2:]
            p6, p7, p8, p9 = img[2:, 1:-1], img[2:, :-2], img[1:-1, :-2], img[:-2, :-2]
            ring = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            neighbours = sum(p.astype(np.int32) for p in ring[:-1])
            transitions = sum(((a == 0) & (b == 1)).astype(np.int32) for a, b in zip(ring[:-1], ring[1:]))
            if step == 0:
                side = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                side = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = (c == 1) & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & side
            if remove.any():
                c[remove] = 0
                changed = True
        if not changed:
            return img[1:-1, 1:-1].astype(bool)


def _coverage(digit: np.ndarray, size: int) -> np.ndarray:
    """A 28x28 uint8 MNIST digit upscaled so that its 20-pixel box becomes ``size`` pixels: ink in [0, 1]."""
    side = max(28, round(28 * size / 20))
    big = Image.fromarray(np.asarray(digit, np.uint8)).resize((side, side), Image.Resampling.BICUBIC)
    return np.asarray(big, np.float32) / 255.0


def _pen(cover: np.ndarray, kind: str, size: int, rng) -> np.ndarray:
    """The digit redrawn along its skeleton with another pen: a ball-point 1-3 pixels wide (``thin``) or a
    marker with a round nib 1.6-2 times as wide as MNIST's stroke (``thick``; MNIST's is about 2.4 of its
    20 pixels), lightly anti-aliased."""
    ink = cover > 0.3
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    lines = np.zeros_like(ink)
    lines[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] = skeleton(ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
    if kind == "thin":
        width = int(rng.integers(1, 4))
    else:
        width = max(3, round(rng.uniform(1.6, 2.0) * 2.4 * size / 20))
    radius = (width - 1) / 2
    offsets = [(dy, dx) for dy in range(-int(radius) - 1, int(radius) + 2)
               for dx in range(-int(radius) - 1, int(radius) + 2) if dy * dy + dx * dx <= radius * radius + 0.5]
    drawn = np.zeros(cover.shape, bool)
    ys, xs = np.nonzero(lines)
    for dy, dx in offsets:
        drawn[np.clip(ys + dy, 0, cover.shape[0] - 1), np.clip(xs + dx, 0, cover.shape[1] - 1)] = True
    image = Image.fromarray(drawn.astype(np.uint8) * 255).filter(ImageFilter.GaussianBlur(0.5))
    return np.asarray(image, np.float32) / 255.0


def _rotate(cover: np.ndarray, degrees: float) -> np.ndarray:
    image = Image.fromarray(np.round(cover * 255).astype(np.uint8))
    return np.asarray(image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True), np.float32) / 255.0


def _margin_marks(page: np.ndarray, digit_box: tuple[int, int, int, int], rng) -> None:
    """A ruled line along the top or bottom edge and a row of text-like marks along the other, far from the
    digit (drawn into ``page``, an ink coverage map)."""
    h, w = page.shape
    image = Image.fromarray(np.round(page * 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    top_free, bottom_free = digit_box[0], h - digit_box[2]
    line_at_top = top_free >= bottom_free
    thickness = int(rng.integers(1, 4))
    y = int(rng.integers(2, max(3, min(12, (top_free if line_at_top else bottom_free) // 3))))
    y = y if line_at_top else h - 1 - y
    draw.rectangle([0, y, w - 1, y + thickness - 1], fill=int(rng.integers(150, 256)))
    text_h = int(rng.integers(6, 13))
    free = bottom_free if line_at_top else top_free
    base = (h - 3 - text_h if line_at_top else 3) if free > text_h + 6 else None
    if base is not None:
        x = int(rng.integers(2, max(3, w // 4)))
        while x < w - text_h:
            letter_w = int(rng.integers(text_h // 2, text_h + 1))
            points = [(x + rng.uniform(0, letter_w), base + rng.uniform(0, text_h)) for _ in range(4)]
            draw.line(points, fill=255, width=max(1, text_h // 6))
            x += letter_w + int(rng.integers(2, text_h))
            if rng.random() < 0.15:
                x += text_h
    page[:] = np.asarray(image, np.float32) / 255.0


def _settings(kind: str, rng) -> dict:
    """The page's look: paper and ink colours, noise, JPEG quality, shadow, pen, rotation, margin marks."""
    s = {"paper": [rng.uniform(235, 255)] * 3, "ink": [rng.uniform(0, 40)] * 3, "noise": 0.0, "jpeg": None,
         "shadow": None, "pen": None, "rotate": 0.0, "margin": False, "rgb": False}
    grey = rng.uniform(170, 215)
    if kind == "paper":
        tint = rng.uniform(-25, 25, 3) * (rng.random() < 0.6)
        s["paper"] = list(np.clip(grey + tint, 0, 255))
        s["ink"] = [rng.uniform(10, 60)] * 3 if rng.random() < 0.5 else [rng.uniform(10, 50), rng.uniform(20, 60),
                                                                           rng.uniform(90, 160)]
        s["rgb"] = True
    elif kind == "noise":
        s["paper"], s["ink"], s["noise"] = [grey] * 3, [rng.uniform(10, 70)] * 3, rng.uniform(2, 6)
    elif kind == "jpeg":
        s["paper"], s["ink"], s["noise"] = [grey] * 3, [rng.uniform(10, 70)] * 3, 2.0
        s["jpeg"] = int(rng.integers(30, 91))
    elif kind == "shadow":
        s["paper"], s["shadow"] = [rng.uniform(225, 250)] * 3, rng.uniform(0, 2 * np.pi)
    elif kind in ("thin", "thick"):
        s["pen"] = kind
    elif kind == "rotated":
        s["rotate"] = rng.uniform(-15, 15)
    elif kind == "margin":
        s["margin"] = True
    elif kind == "inverted":
        s["paper"], s["ink"], s["noise"] = [rng.uniform(20, 70)] * 3, [rng.uniform(180, 250)] * 3, 2.0
    elif kind == "combined":
        s = _settings(str(rng.choice(["paper", "noise", "inverted"])), rng)
        s["noise"] = max(s["noise"], rng.uniform(0, 4))
        s["jpeg"] = int(rng.integers(30, 91)) if rng.random() < 0.5 else None
        s["shadow"] = rng.uniform(0, 2 * np.pi) if rng.random() < 0.3 else None
        s["pen"] = rng.choice([None, None, None, "thin", "thick"])
        s["rotate"] = rng.uniform(-15, 15) if rng.random() < 0.5 else 0.0
        s["margin"] = bool(rng.random() < 0.3)
    elif kind != "plain":
        raise ValueError(f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    return s


def hard_digit(kind: str, digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """One page of the given kind showing ``digit`` (a 28x28 uint8 MNIST image): a Pillow image, L or RGB."""
    s = _settings(kind, rng)
    size = int(rng.integers(40, 161))
    cover = _coverage(digit, size)
    if s["pen"]:
        cover = _pen(cover, s["pen"], size, rng)
    if s["rotate"]:
        cover = _rotate(cover, s["rotate"])
    rows, cols = np.flatnonzero(cover.max(1) > 0.1), np.flatnonzero(cover.max(0) > 0.1)
    cover = cover[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    ch, cw = cover.shape
    span = max(ch, cw)
    h = int(ch + span * rng.uniform(1.0, 2.2) + (span if s["margin"] else 0))
    w = int(cw + span * rng.uniform(1.0, 2.2) + (span // 2 if s["margin"] else 0))
    pad_y, pad_x = (span // 2, span // 4) if s["margin"] else (2, 2)
    top = int(rng.integers(pad_y, h - ch - pad_y + 1))
    left = int(rng.integers(pad_x, w - cw - pad_x + 1))
    page = np.zeros((h, w), np.float32)
    page[top:top + ch, left:left + cw] = cover
    if s["margin"]:
        _margin_marks(page, (top, left, top + ch, left + cw), rng)
    paper, ink = np.array(s["paper"], np.float32), np.array(s["ink"], np.float32)
    pixels = paper * (1 - page[..., None]) + ink * page[..., None]
    if s["shadow"] is not None:            # the light falls from 200/paper to 80/paper of full along a direction
        ys, xs = np.indices((h, w), dtype=np.float32)
        along = np.cos(s["shadow"]) * xs / w + np.sin(s["shadow"]) * ys / h
        along = (along - along.min()) / max(float(np.ptp(along)), 1e-6)
        light = (200 + (80 - 200) * along) / float(paper.mean())
        pixels = pixels * light[..., None]
    if s["noise"]:
        pixels = pixels + rng.normal(0, s["noise"], pixels.shape[:2])[..., None]
    pixels = np.clip(np.round(pixels), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB") if s["rgb"] else Image.fromarray(pixels[..., 0], "L")
    if s["jpeg"]:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=s["jpeg"])
        image = Image.open(io.BytesIO(buffer.getvalue()))
        image.load()
    return image


class HardSet(NamedTuple):
    pages: list[Image.Image]     # what the files would decode to
    labels: np.ndarray           # the digits' true classes
    index: np.ndarray            # which MNIST test digits they are


def hard_set(kind: str, n: int, images: np.ndarray, labels: np.ndarray, seed: int = 0) -> HardSet:
    """``n`` pages of one kind from MNIST test digits drawn by ``seed``."""
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    which = rng.choice(len(images), size=n, replace=False)
    return HardSet([hard_digit(kind, images[i], rng) for i in which], np.asarray(labels)[which], which)


def number_page(digits: list[np.ndarray], rng: np.random.Generator, touching: float = 0.3) -> Image.Image:
    """Digits (28x28 uint8 MNIST images) written side by side as a number on a grey, noisy page.

    Each digit is cut to its columns of ink and placed after the previous one with a gap of 1-6 pixels (at
    the 28-pixel scale), or with probability ``touching`` a gap of 0 or -1 (the boxes meet or overlap by one
    pixel), so that the strokes touch where both digits have ink at the meeting columns; the whole is upscaled
    2-4 times, with noise of 3 grey levels.
    """
    cuts = []
    for digit in digits:
        cols = np.flatnonzero(digit.max(axis=0) > 25)
        cuts.append(digit[:, cols[0]:cols[-1] + 1].astype(np.float32) / 255.0)
    gaps = [0] + [-int(rng.integers(0, 2)) if rng.random() < touching else int(rng.integers(1, 7))
                  for _ in digits[1:]]
    width = sum(c.shape[1] for c in cuts) + sum(gaps) + 16
    strip = np.zeros((36, width), np.float32)
    x = 8
    for cut, gap in zip(cuts, gaps):
        x += gap
        dy = int(rng.integers(2, 7))
        strip[dy:dy + 28, x:x + cut.shape[1]] = np.maximum(strip[dy:dy + 28, x:x + cut.shape[1]], cut)
        x += cut.shape[1]
    scale = rng.uniform(2, 4)
    big = Image.fromarray(np.round(strip * 255).astype(np.uint8)).resize(
        (round(width * scale), round(36 * scale)), Image.Resampling.BICUBIC)
    cover = np.asarray(big, np.float32) / 255.0
    paper, ink = rng.uniform(180, 240), rng.uniform(10, 60)
    pixels = paper * (1 - cover) + ink * cover + rng.normal(0, 3, cover.shape)
    return Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8), "L")


# --- digits on forms: a box drawn around one, a comb field (a row of boxes), an underline ---------------------------
def _upscaled(digit: np.ndarray, size: int) -> np.ndarray:
    """A 28x28 uint8 digit resampled to ``size`` pixels (bilinear), as ink coverage in [0, 1]."""
    return np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BILINEAR), np.float32) / 255.0


def _on_paper(cover: np.ndarray) -> Image.Image:
    """Ink coverage -> dark ink (grey 39) on light paper (grey 235), as a grayscale image."""
    return Image.fromarray(np.round(235 - 196 * np.clip(cover, 0, 1)).astype(np.uint8), "L")


def framed_page(digit: np.ndarray, line: int, gap: int, size: int = 112) -> Image.Image:
    """``digit`` at ``size`` pixels inside a drawn box ``line`` pixels wide, ``gap`` pixels from its ink on the
    nearest side (0: the ink touches the box), on a page with a margin around the box."""
    big = _upscaled(digit, size)
    rows, cols = np.flatnonzero(big.max(1) > 0.1), np.flatnonzero(big.max(0) > 0.1)
    big = big[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    bh, bw = big.shape
    box_h, box_w = bh + 2 * (gap + line), max(bw + 2 * (gap + line), int(0.8 * (bh + 2 * (gap + line))))
    page = np.zeros((box_h + 80, box_w + 80), np.float32)
    y0, x0 = 40, 40
    page[y0:y0 + box_h, x0:x0 + line] = page[y0:y0 + box_h, x0 + box_w - line:x0 + box_w] = 1
    page[y0:y0 + line, x0:x0 + box_w] = page[y0 + box_h - line:y0 + box_h, x0:x0 + box_w] = 1
    top, left = y0 + (box_h - bh) // 2, x0 + (box_w - bw) // 2
    page[top:top + bh, left:left + bw] = np.maximum(page[top:top + bh, left:left + bw], big)
    return _on_paper(page)


def comb_page(digits: list[np.ndarray], line: int = 2, cell: int = 100, touching: bool = False) -> Image.Image:
    """Digits written one to a box of a comb field (a row of boxes sharing their sides), 84 pixels tall in boxes
    of ``cell``; ``touching`` moves each digit down until it meets the box's bottom line."""
    n = len(digits)
    page = np.zeros((cell + 80, n * cell + 80), np.float32)
    y0, x0 = 40, 40
    page[y0:y0 + line, x0:x0 + n * cell + line] = 1
    page[y0 + cell:y0 + cell + line, x0:x0 + n * cell + line] = 1
    for k in range(n + 1):
        page[y0:y0 + cell + line, x0 + k * cell:x0 + k * cell + line] = 1
    for k, digit in enumerate(digits):
        big = _upscaled(digit, 84)
        below = int(np.flatnonzero(big.max(1)[::-1] > 0.1)[0])        # empty rows under the ink
        down = cell - 84 + below if touching else (cell - 84) // 2        # touching: the ink on the bottom line
        top, left = y0 + down, x0 + k * cell + (cell - 84) // 2
        page[top:top + 84, left:left + 84] = np.maximum(page[top:top + 84, left:left + 84], big)
    return _on_paper(page)


def ruled_paper_page(digit: np.ndarray | None, rng: np.random.Generator, squared: bool = False,
                     size: int = 0, line: int = 2) -> Image.Image:
    """``digit`` ``size`` pixels (240-280 when 0) on lined (or ``squared``) paper: lines ``line`` pixels wide, 40-70
    apart from a random offset, 30-45% as dark as the ink, across the whole 520x600 page; the digit's strokes cross
    them. No digit (None): the empty page."""
    size = size or int(rng.integers(240, 281))
    page = np.zeros((520, 600), np.float32)
    spacing, offset, shade = int(rng.integers(40, 71)), int(rng.integers(0, 40)), float(rng.uniform(0.3, 0.45))
    for y in range(offset, 520, spacing):
        page[y:y + line] = shade
    if squared:
        for x in range(offset, 600, spacing):
            page[:, x:x + line] = shade
    if digit is None:
        return _on_paper(page)
    big = _upscaled(digit, size)
    bh, bw = big.shape
    top, left = (520 - bh) // 2, (600 - bw) // 2
    page[top:top + bh, left:left + bw] = np.maximum(page[top:top + bh, left:left + bw], big)
    return _on_paper(page)


def underlined_page(digit: np.ndarray, line: int = 3) -> Image.Image:
    """``digit`` at 112 pixels on a line (as on a form) that runs well past it on both sides, touching its ink."""
    big = _upscaled(digit, 112)
    page = np.zeros((200, 260), np.float32)
    page[40:152, 74:186] = big
    y = 40 + np.flatnonzero(big.max(1) > 0.3)[-1] - 1
    page[y:y + line, 20:240] = 1
    return _on_paper(page)


# --- photos of a page: a shadow's edge across it, a sticky note on a desk ------------------------------------------
def _page_photo(pixels: np.ndarray, rng, noise: float = 2.0) -> Image.Image:
    """Float pixels (H, W) or (H, W, 3) in 0-255 -> a photo: sensor noise of ``noise`` grey levels, then JPEG of
    quality 60-90 (decoded again)."""
    pixels = pixels + rng.normal(0, noise, pixels.shape[:2])[(...,) + (None,) * (pixels.ndim - 2)]
    image = Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8), "RGB" if pixels.ndim == 3 else "L")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(60, 91)))
    image = Image.open(io.BytesIO(buffer.getvalue()))
    image.load()
    return image


def shadow_light(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A phone's soft shadow over a page of ``shape``: the light (1 in full light) falls by 35-55% across an edge
    blurred over 2-6% of the page, at any angle, that crosses the middle (within 10% of the page's centre), so
    that the shadow covers about half of it."""
    h, w = shape
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.indices((h, w), dtype=np.float32)
    centre = (h / 2 + rng.uniform(-0.1, 0.1) * h, w / 2 + rng.uniform(-0.1, 0.1) * w)
    across = np.cos(angle) * (xs - centre[1]) + np.sin(angle) * (ys - centre[0])
    blur = rng.uniform(0.02, 0.06) * max(h, w)
    return 1.0 - rng.uniform(0.35, 0.55) / (1.0 + np.exp(-across / (blur / 4)))


def shadow_edge_page(digit: np.ndarray, rng: np.random.Generator, shadow: bool = True) -> Image.Image:
    """``digit`` in black marker (``thick``) 80-140 pixels tall on off-white paper, under ``shadow_light``: the
    shadow's edge runs through or beside the digit. ``shadow=False`` makes the same page (the same draws from
    ``rng``) in full light."""
    size = int(rng.integers(80, 141))
    cover = _pen(_coverage(digit, size), "thick", size, rng)
    rows, cols = np.flatnonzero(cover.max(1) > 0.1), np.flatnonzero(cover.max(0) > 0.1)
    cover = cover[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    ch, cw = cover.shape
    h, w = int(ch * rng.uniform(2.2, 3.0)), int(cw * rng.uniform(2.2, 3.0) + 0.5 * ch)
    page = np.zeros((h, w), np.float32)
    top, left = (h - ch) // 2 + int(rng.integers(-ch // 4, ch // 4 + 1)), (w - cw) // 2
    page[top:top + ch, left:left + cw] = cover
    light = shadow_light((h, w), rng)
    paper, ink = rng.uniform(220, 245), rng.uniform(10, 35)
    pixels = (paper * (1 - page) + ink * page) * (light if shadow else 1.0)
    return _page_photo(pixels, rng, noise=rng.uniform(1.5, 3.0))


def sticky_note_page(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """``digit`` 60-120 pixels tall in dark ink on a yellow sticky note 1.5-2 times its size, lying a little turned
    on a dark desk that fills the rest of the photo (RGB)."""
    size = int(rng.integers(60, 121))
    big = _coverage(digit, size)
    note = int(size * rng.uniform(1.5, 2.0))
    h, w = int(note * rng.uniform(1.6, 2.2)), int(note * rng.uniform(1.8, 2.6))
    cy, cx = h / 2 + rng.uniform(-0.1, 0.1) * h, w / 2 + rng.uniform(-0.1, 0.1) * w
    turn = np.radians(rng.uniform(-12, 12))
    corners = [(cx + dx * np.cos(turn) - dy * np.sin(turn), cy + dx * np.sin(turn) + dy * np.cos(turn))
               for dx, dy in ((-note / 2, -note / 2), (note / 2, -note / 2), (note / 2, note / 2),
                              (-note / 2, note / 2))]
    shape = Image.new("L", (4 * w, 4 * h), 0)           # drawn at 4x and reduced: an anti-aliased edge
    ImageDraw.Draw(shape).polygon([(4 * x, 4 * y) for x, y in corners], fill=255)
    on_note = np.asarray(shape.resize((w, h), Image.Resampling.BOX), np.float32)[..., None] / 255.0
    page = np.zeros((h, w), np.float32)
    bh, bw = big.shape
    top, left = int(cy - bh / 2), int(cx - bw / 2)
    page[top:top + bh, left:left + bw] = big
    desk = np.array([rng.uniform(35, 75), rng.uniform(25, 55), rng.uniform(15, 40)], np.float32)
    yellow = np.array([rng.uniform(235, 255), rng.uniform(215, 240), rng.uniform(80, 140)], np.float32)
    ink = np.array([rng.uniform(10, 40), rng.uniform(10, 40), rng.uniform(20, 70)], np.float32)
    paper = desk * (1 - on_note) + yellow * on_note
    return _page_photo(paper * (1 - page[..., None]) + ink * page[..., None], rng)
