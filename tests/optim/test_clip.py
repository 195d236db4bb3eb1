import numpy as np

from matnet.optim import clip_grad_norm


def test_clips_to_the_global_norm_keeping_direction():
    g = np.array([3.0, 4.0])
    assert clip_grad_norm(g, 1.0) == 5.0
    np.testing.assert_allclose(g, [0.6, 0.8])


def test_small_gradients_untouched():
    g = np.array([3.0, 4.0])
    assert clip_grad_norm(g, 10.0) == 5.0
    np.testing.assert_array_equal(g, [3.0, 4.0])
