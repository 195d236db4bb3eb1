import numpy as np
import pytest

from matnet.backend import to_device, to_numpy
from matnet.nn import AvgPool2D, Flatten, GlobalAvgPool, MaxPool2D
from matnet.nn.gradcheck import TOLERANCE, _distinct, check_layer


def test_max_pool_by_hand_and_routing_to_the_max():
    x = np.array([[[[1, 5, 2, 0], [3, 4, 8, 1], [0, 0, 1, 2], [9, 0, 3, 3]]]], np.float32)
    pool = MaxPool2D(2)
    np.testing.assert_array_equal(to_numpy(pool.forward(to_device(x), training=True)), [[[[5, 8], [9, 3]]]])
    dx = to_numpy(pool.backward(to_device(np.array([[[[10, 20], [30, 40]]]], np.float32))))
    expected = np.zeros((4, 4))
    expected[0, 1], expected[1, 2], expected[3, 0], expected[3, 2] = 10, 20, 30, 40   # tie 3,3: the first one
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_ties_send_the_gradient_once_to_the_first_maximum():
    pool = MaxPool2D(2)
    pool.forward(to_device(np.ones((1, 1, 4, 4), np.float32)), training=True)
    dx = to_numpy(pool.backward(to_device(np.array([[[[1, 2], [3, 4]]]], np.float32))))
    assert dx.sum() == 10                                     # routed once, never duplicated
    np.testing.assert_array_equal(dx[0, 0, ::2, ::2], [[1, 2], [3, 4]])


def test_average_pools():
    x = to_device(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4))
    np.testing.assert_allclose(to_numpy(AvgPool2D(2).forward(x)), [[[[2.5, 4.5], [10.5, 12.5]]]])
    np.testing.assert_allclose(to_numpy(GlobalAvgPool().forward(x)), [[7.5]])
    assert Flatten().forward(to_device(np.zeros((2, 3, 4, 5)))).shape == (2, 60)


@pytest.mark.parametrize("layer,shape", [(MaxPool2D(2), (2, 3, 4, 6)), (MaxPool2D(3, stride=2), (2, 2, 7, 7)),
                                         (AvgPool2D(2), (2, 2, 4, 4)), (AvgPool2D(3, stride=1), (1, 2, 5, 5)),
                                         (GlobalAvgPool(), (2, 3, 4, 5)), (Flatten(), (2, 3, 2, 2))],
                         ids=["max2", "max3s2", "avg2", "avg3s1", "global", "flatten"])
def test_gradients_match_finite_differences(layer, shape, rng):
    assert check_layer(layer, to_device(_distinct(rng, shape)), rng)["dx"] < TOLERANCE


def test_output_shapes():
    assert MaxPool2D(2).output_shape((8, 28, 28)) == (8, 14, 14)
    assert MaxPool2D(3, stride=2).output_shape((8, 7, 7)) == (8, 3, 3)
    assert GlobalAvgPool().output_shape((8, 7, 7)) == (8,)
    with pytest.raises(ValueError, match="takes inputs of shape"):
        MaxPool2D(2).output_shape((784,))


def _max_pool_backward_by_loops(x, dout, k, s):
    """The reference: each window's gradient to its first maximum in reading order, window by window."""
    dx = np.zeros_like(x)
    n, c, ho, wo = dout.shape
    for b in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    window = x[b, ch, i * s:i * s + k, j * s:j * s + k]
                    u, v = np.unravel_index(np.argmax(window), window.shape)    # argmax: the first maximum
                    dx[b, ch, i * s + u, j * s + v] += dout[b, ch, i, j]
    return dx


@pytest.mark.parametrize("k,s,shape", [(2, 2, (2, 3, 6, 8)), (2, 2, (2, 3, 5, 7)), (3, 3, (1, 2, 7, 9)),
                                       (3, 2, (2, 2, 7, 7)), (2, 1, (1, 2, 5, 5)), (2, 3, (1, 2, 8, 8))],
                         ids=["blocks", "blocks-odd", "blocks-3", "overlap", "overlap-s1", "gaps"])
@pytest.mark.parametrize("layout", ["channels-first", "channels-last"])
def test_max_pool_routes_like_a_loop_over_windows_with_many_ties(k, s, shape, layout, rng):
    """Both routings (non-overlapping windows as axes of their own; any stride position by position) against the
    window-by-window loop, on values drawn from {0, 1, 2} so most windows hold ties."""
    x = rng.integers(0, 3, size=shape).astype(np.float32)
    pool = MaxPool2D(k, stride=s)
    device_x = to_device(x)
    if layout == "channels-last":
        device_x = device_x.transpose(0, 2, 3, 1).copy().transpose(0, 3, 1, 2)
    out = to_numpy(pool.forward(device_x, training=True))
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = to_numpy(pool.backward(to_device(dout)))
    np.testing.assert_allclose(dx, _max_pool_backward_by_loops(x, dout, k, s), rtol=1e-6, atol=1e-6)  # sum order
