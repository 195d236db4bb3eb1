"""The user's own images made to look like MNIST digits, as the MNIST authors made theirs.

A photo or scan of a digit differs from MNIST in ways the network never saw: grey or tinted paper, sensor noise,
JPEG artefacts, a shadow across the page, a ruled line or other marks in the margin, a pen far thinner or a
marker far thicker than MNIST's strokes, the digit small and off-centre in a large page. ``to_mnist`` finds the
ink and nothing else, in steps that each have one function here:

1. ``read_gray``: the file as grayscale in [0, 1] (colour by luma, transparency laid over white paper), by
   ``decode_gray``, the one decoder of images from outside (``matnet serve``'s uploads too), which refuses images
   over ``MAX_PIXELS`` (or the caller's lower limit) before decoding them and raises ``ImageError`` with a kind;
   ``reduce`` shrinks a very large page to ``WORK_SIDE``;
2. ``flatten``: the paper's brightness fitted by a smooth surface (a quadratic in x and y, robust to the ink), or,
   where that leaves over twice the pixels' own noise (a shadow's edge across the page: a step no quadratic fits),
   by a median over a third of the page (``local_background``); the polarity read from which side of it the
   outliers lie, and the ink measured against it: the fraction of
   light the ink absorbs for dark ink on paper (so a shadow, which dims paper and ink alike, cancels out), the
   difference for light ink on a dark ground; scaled so the ink is 1;
3. ``otsu_threshold``: the threshold between ink and paper chosen from the image's histogram, kept above the
   paper's noise level;
4. ``find_paper``: where step 2 found light "ink" on a dark ground that is a sheet (a sticky note on a dark desk:
   a large blob that fills its box, with strokes written inside it), the sheet is taken for the paper, the rest
   made its colour, and step 2 done again; ``label_components`` and ``digit_mask``: the connected blobs of ink;
   the digit is the largest that keeps away from the page's edge, with the pieces near it (a "5" may come in
   two); specks, ruled lines and marks far from it are dropped; the digit's faint edges (anti-aliasing) are
   taken back within two pixels of it;
5. ``normalise_stroke``: a stroke far thinner or thicker than MNIST's is dilated or eroded towards MNIST's width;
6. ``fit_field``: the digit's bounding box scaled, keeping its aspect ratio, so that its longer side is 20
   pixels, and placed in a 28x28 field so that its centre of mass lies at (14, 14) (MNIST's own digits average
   (14.0, 14.0) with pixel centres at integer coordinates).

``split_digits`` uses steps 1-4 to cut a written number into its digits; ``read_number`` does so with a
model's ``predict_proba``, which also reads each digit. A page with no digit is a ``NoDigit`` at any step. Pillow
reads the files and resamples; the rest is NumPy. One module a step, in the pipeline's order: ``read`` (1),
``ink`` (2, 3), ``components`` (4), ``stroke`` (5), ``field`` (6); ``digit`` runs them for one digit, ``number``
for a written number.
"""

from matnet.data.images.read import (MAX_PIXELS, WORK_SIDE, ImageError, decode_gray, gray_from_image, read_gray, reduce,
                                     save_gray)
from matnet.data.images.ink import Ink, NoDigit, flatten, otsu_threshold
from matnet.data.images.components import digit_mask, find_ink, find_paper, label_components
from matnet.data.images.field import BOX, FIELD, fit_field
from matnet.data.images.stroke import normalise_stroke, stroke_width
from matnet.data.images.digit import load_digit, to_mnist
from matnet.data.images.number import (count_marks, marks_warning, read_number, split_digits, to_mnist_counted,
                                       unsure_digit_warning, unsure_warning)

__all__ = ["read_gray", "decode_gray", "ImageError", "gray_from_image", "reduce", "flatten", "otsu_threshold",
           "label_components", "find_paper", "find_ink", "digit_mask", "stroke_width", "normalise_stroke",
           "fit_field", "to_mnist", "load_digit", "split_digits", "read_number", "count_marks", "marks_warning",
           "unsure_warning", "unsure_digit_warning", "to_mnist_counted", "save_gray", "Ink", "NoDigit", "FIELD",
           "BOX", "MAX_PIXELS", "WORK_SIDE"]
