import numpy as np

from matnet.data.augment import Augment


def test_no_movement_is_the_identity(rng):
    x = rng.random((3, 1, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(Augment((8, 8), shift=0, degrees=0)(x), x, atol=1e-6)


def test_a_whole_pixel_shift_moves_the_image():
    x = np.zeros((1, 64), np.float32)
    x[0, 3 * 8 + 3] = 1.0                                   # one lit pixel at (3, 3)
    class Highest:                          # every draw at its upper bound: no rotation, a +1 pixel shift per axis
        def uniform(self, low, high, size):
            return np.full(size, float(high))

    out = Augment((8, 8), shift=1, degrees=0, rng=Highest())(x).reshape(8, 8)
    assert out[4, 4] == 1.0 and out.sum() == 1.0


class Draws:
    """A stand-in for the generator: every image turned by ``angle`` degrees and shifted by (``ty``, ``tx``) pixels
    (Augment draws the angles first, then the shifts as one (2, N) array: rows y, x)."""

    def __init__(self, angle=0.0, ty=0.0, tx=0.0):
        self.angle, self.shift = angle, (ty, tx)

    def uniform(self, low, high, size):
        if np.ndim(size) == 0:                                # the angles, (N,)
            return np.full(size, float(self.angle))
        return np.stack([np.full(size[1:], float(v)) for v in self.shift])


ASYMMETRIC = np.arange(25, dtype=np.float32).reshape(5, 5) ** 1.5     # no turn or mirror of it equals another


def test_a_quarter_turn_is_rot90_exactly():
    # +90 degrees: the output pixel p reads the input at R(-90)(p - c) + c, i.e. out[i, j] = in[4 - j, i], which is
    # np.rot90 with k=-1 (on the screen, y pointing down: a clockwise turn). Whole pixels: no interpolation blur.
    x = np.stack([ASYMMETRIC, ASYMMETRIC[::-1]])[:, None]
    out = Augment((5, 5), shift=1, degrees=90, rng=Draws(angle=90))(x)
    np.testing.assert_allclose(out[:, 0], [np.rot90(ASYMMETRIC, -1), np.rot90(ASYMMETRIC[::-1], -1)], atol=1e-4)
    back = Augment((5, 5), shift=1, degrees=90, rng=Draws(angle=-90))(x)
    np.testing.assert_allclose(back[:, 0], [np.rot90(ASYMMETRIC), np.rot90(ASYMMETRIC[::-1])], atol=1e-4)


def test_a_one_pixel_shift_along_one_axis_moves_a_known_pixel():
    x = np.zeros((1, 1, 6, 6), np.float32)
    x[0, 0, 2, 3] = 1.0
    right = Augment((6, 6), shift=1, degrees=0, rng=Draws(tx=1))(x)[0, 0]     # +x: one column right
    up = Augment((6, 6), shift=1, degrees=0, rng=Draws(ty=-1))(x)[0, 0]       # -y: one row up
    assert right[2, 4] == 1.0 and right.sum() == 1.0
    assert up[1, 3] == 1.0 and up.sum() == 1.0


def test_rotation_keeps_the_centre_and_the_shape(rng):
    x = np.zeros((5, 1, 9, 9), np.float32)
    x[:, 0, 4, 4] = 1.0
    out = Augment((9, 9), shift=0, degrees=10, rng=rng)(x)
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0, 4, 4], 1.0, atol=1e-6)        # the centre stays where it is


def test_seeded_per_image_and_different_each_call(rng):
    one = rng.random((1, 1, 8, 8)).astype(np.float32)
    x = np.repeat(one, 4, axis=0)                           # one image four times: only the draws tell them apart
    a = Augment((8, 8), rng=np.random.default_rng(5))
    b = Augment((8, 8), rng=np.random.default_rng(5))
    first = a(x)
    np.testing.assert_array_equal(first, b(x))                                   # the same seed, the same batch
    assert not np.array_equal(first, Augment((8, 8), rng=np.random.default_rng(6))(x))   # another seed, another
    assert not np.array_equal(first, a(x))                                       # and another at each call
    # each image of the batch drawn on its own, the angle and the shift each (the turn alone, then the shift alone)
    for only in (dict(shift=0, degrees=10), dict(shift=2, degrees=0)):
        out = Augment((8, 8), **only, rng=np.random.default_rng(5))(x)
        for i in range(4):
            for j in range(i):
                assert not np.allclose(out[i], out[j], atol=1e-3), (only, i, j)


def test_flip_mirrors_about_half_the_images_exactly(rng):
    x = rng.random((200, 1, 5, 7)).astype(np.float32)
    out = Augment((5, 7), shift=0, degrees=0, flip=True, rng=np.random.default_rng(3))(x)
    mirrored = np.array([np.array_equal(o, i[:, :, ::-1]) for o, i in zip(out, x)])
    kept = np.array([np.array_equal(o, i) for o, i in zip(out, x)])
    assert np.all(mirrored ^ kept)                          # each image exactly mirrored or exactly unchanged
    assert 70 < mirrored.sum() < 130                        # probability 1/2 (binomial: 100 +- 7)
    assert out.shape == x.shape and out.dtype == np.float32


def test_flip_works_on_rows_and_leaves_the_input_alone():
    rows = np.arange(12, dtype=np.float32).reshape(2, 6)     # two 2x3 images as rows
    before = rows.copy()

    class FlipAll:                                            # every image drawn for mirroring
        def random(self, size):
            return np.zeros(size)

    out = Augment((2, 3), shift=0, degrees=0, flip=True, rng=FlipAll())(rows)
    np.testing.assert_array_equal(out, [[2, 1, 0, 5, 4, 3], [8, 7, 6, 11, 10, 9]])
    np.testing.assert_array_equal(rows, before)
