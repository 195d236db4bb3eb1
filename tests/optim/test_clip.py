import numpy as np

from matnet.backend import to_device, to_host, to_numpy
from matnet.optim import clip_grad_norm


def test_clips_to_the_global_norm_keeping_direction():
    g = to_device(np.array([3.0, 4.0]))
    assert to_host(clip_grad_norm(g, 1.0)) == 5.0
    np.testing.assert_allclose(to_numpy(g), [0.6, 0.8])


def test_small_gradients_untouched():
    g = to_device(np.array([3.0, 4.0]))
    assert to_host(clip_grad_norm(g, 10.0)) == 5.0
    np.testing.assert_array_equal(to_numpy(g), [3.0, 4.0])
