import numpy as np
import pytest

from matnet.data import Dataset, normalize, prepare


def small_dataset(n_train=100, n_test=20):
    gen = np.random.default_rng(0)
    images = gen.integers(0, 256, (n_train + n_test, 4, 4), dtype=np.uint8)
    labels = np.arange(n_train + n_test, dtype=np.uint8) % 10
    return Dataset("small", images[:n_train], labels[:n_train], images[n_train:], labels[n_train:], tuple("0123456789"))


def test_normalize_flattens_to_unit_range():
    x = normalize(np.array([[[0, 255], [51, 102]]], dtype=np.uint8))
    assert x.shape == (1, 4) and x.dtype == np.float32
    np.testing.assert_allclose(x, [[0, 1, 0.2, 0.4]], rtol=1e-6)


def test_validation_is_held_out_from_the_end():
    d = small_dataset()
    s = prepare(d, val_size=30)
    assert s.x_train.shape == (70, 16) and s.x_val.shape == (30, 16) and s.x_test.shape == (20, 16)
    np.testing.assert_array_equal(s.y_val, d.train_labels[70:])
    np.testing.assert_allclose(s.x_val[0], d.train_images[70].reshape(-1) / 255, rtol=1e-6)


def test_no_validation_set_trains_on_every_image():
    s = prepare(small_dataset(), val_size=0)
    assert s.x_train.shape == (100, 16) and s.x_val.shape == (0, 16) and s.y_val.shape == (0,)


def test_subset_takes_the_first_images():
    s = prepare(small_dataset(), val_size=30, subset=10)
    assert len(s.x_train) == 10 and len(s.x_val) == 30
    np.testing.assert_array_equal(s.y_train, np.arange(10))


def test_bad_sizes():
    with pytest.raises(ValueError, match="val-size must be below the 100 training images"):
        prepare(small_dataset(), val_size=100)
