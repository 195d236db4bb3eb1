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


def test_rotation_keeps_the_centre_and_the_shape(rng):
    x = np.zeros((5, 1, 9, 9), np.float32)
    x[:, 0, 4, 4] = 1.0
    out = Augment((9, 9), shift=0, degrees=10, rng=rng)(x)
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0, 4, 4], 1.0, atol=1e-6)        # the centre stays where it is


def test_seeded_and_different_each_call(rng):
    x = rng.random((4, 1, 8, 8)).astype(np.float32)
    a = Augment((8, 8), rng=np.random.default_rng(5))
    b = Augment((8, 8), rng=np.random.default_rng(5))
    first = a(x)
    np.testing.assert_array_equal(first, b(x))
    assert not np.array_equal(first, a(x))


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
