"""Other writers' digits (matnet.data.writers): each kind does what it says, on uint8 and float batches, and the
``writers`` augmentation changes its fraction of a batch and nothing else."""

import numpy as np
import pytest

from matnet.data.augment import Augment
from matnet.data.writers import KINDS, apply_kind, blocky, sheared, thick, thin


@pytest.fixture(scope="module")
def digits(mnist):
    return mnist.test_images[:50]


def ink(images):
    return (np.asarray(images) > 127).sum(axis=(1, 2))


def test_the_neutral_settings_leave_images_as_they_were(digits):
    for make, neutral in ((blocky, 20), (sheared, 0.0), (thick, 0), (thin, 0)):
        out = make(digits, neutral)
        assert out.dtype == np.uint8 and np.array_equal(out, digits), make.__name__


def test_dilation_adds_ink_and_erosion_takes_it_away(digits):
    assert (ink(thick(digits, 1)) > ink(digits)).all() and (ink(thick(digits, 2)) > ink(thick(digits, 1))).all()
    assert (ink(thin(digits, 1)) < ink(digits)).all()
    line = np.zeros((1, 7, 7), np.float32)
    line[0, :, 3] = 1.0
    assert thick(line, 1)[0].sum(axis=1).tolist() == [3.0] * 7     # a cross: one more pixel either side
    assert thin(thick(line, 1), 1)[0, 1:-1].sum() == 5.0           # and back (inside the image)


def test_a_shear_moves_the_top_row_right_and_the_bottom_row_left():
    line = np.zeros((1, 28, 28), np.uint8)
    line[0, :, 14] = 255
    for factor, top, bottom in ((2 / 27, 15, 13), (-2 / 27, 13, 15)):   # rows 0 and 27 move by 13.5 * factor = 1
        out = sheared(line, factor)[0]
        assert np.flatnonzero(out[0]).tolist() == [top] and np.flatnonzero(out[27]).tolist() == [bottom]
    half = sheared(line.astype(np.float64) / 255, 1 / 27)[0, 0]        # half a pixel: split between two columns
    assert half[14] == pytest.approx(0.5) and half[15] == pytest.approx(0.5)


def test_a_blocky_scan_is_made_of_blocks_and_keeps_the_ink(digits):
    out = blocky(digits.astype(np.float64), 8)                     # the digit 8 pixels tall: 11 cells a side
    for image in out:
        rows, cols = len(np.unique(image.round(9), axis=0)), len(np.unique(image.round(9).T, axis=0))
        assert rows <= 12 and cols <= 12   # 11 blocks, and rows of zeros
    assert out.sum() == pytest.approx(digits.sum(), rel=0.05)   # cells drawn 2 or 3 pixels wide: ink kept on average


def test_per_image_settings_are_the_settings_one_at_a_time(digits):
    sizes, factors = np.array([8, 12, 16]), np.array([0.4, -0.2, 0.0])
    assert np.array_equal(blocky(digits[:3], sizes), np.concatenate([blocky(d[None], s) for d, s in
                                                                      zip(digits[:3], sizes)]))
    assert np.array_equal(sheared(digits[:3], factors), np.concatenate([sheared(d[None], f) for d, f in
                                                                         zip(digits[:3], factors)]))
    assert np.array_equal(thick(digits[:2], [0, 1])[0], digits[0])


def test_every_kind_changes_every_digit(digits):
    for kind in KINDS:
        out = apply_kind(kind, digits)
        assert out.shape == digits.shape and out.dtype == np.uint8
        assert (np.abs(out.astype(int) - digits).reshape(len(digits), -1).max(axis=1) > 0).all(), kind
    with pytest.raises(ValueError, match="unknown kind 'bold'"):
        apply_kind("bold", digits)


def test_the_writers_augmentation_changes_its_fraction_only(digits):
    x = (digits.reshape(len(digits), -1) / 255.0).astype(np.float32)
    before = x.copy()
    out = Augment((28, 28), shift=0, degrees=0, writers=0.5, rng=np.random.default_rng(0))(x)
    changed = np.abs(out - x).max(axis=1) > 0
    assert out.dtype == np.float32 and out.shape == x.shape and np.array_equal(x, before)
    assert 0.3 < changed.mean() < 0.7
