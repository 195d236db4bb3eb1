import numpy as np
import pytest

from matnet.backend import to_device, to_numpy
from matnet.nn import Conv2D
from matnet.nn.layout import col2im, im2col
from matnet.nn.gradcheck import TOLERANCE, _distinct, check_layer


def image_4x4():
    return np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)


def test_3x3_kernel_on_a_4x4_image_by_hand():
    conv = Conv2D(1, 1, 3)
    conv.params["W"][...] = 1
    out = to_numpy(conv.forward(to_device(image_4x4().astype(np.float32))))
    # window sums: top-left 0+1+2+4+5+6+8+9+10 = 45, then +9 per step right, +36 per step down
    np.testing.assert_allclose(out, [[[[45, 54], [81, 90]]]])
    conv.params["W"][...] = 0
    conv.params["W"][0, 0, 0, 0], conv.params["W"][0, 0, 2, 2] = 1, -1      # x[i, j] - x[i+2, j+2]
    conv.params["b"][...] = 0.5
    out = to_numpy(conv.forward(to_device(image_4x4().astype(np.float32))))
    np.testing.assert_allclose(out, np.full((1, 1, 2, 2), -9.5))


def test_padding_and_stride_shapes():
    x = to_device(np.zeros((2, 3, 28, 28), np.float32))
    assert Conv2D(3, 8, 3, padding=1).forward(x).shape == (2, 8, 28, 28)
    assert Conv2D(3, 8, 3, stride=2, padding=1).forward(x).shape == (2, 8, 14, 14)
    assert Conv2D(3, 8, 5).forward(x).shape == (2, 8, 24, 24)
    assert Conv2D(3, 8, 3, stride=2, padding=1).output_shape((3, 28, 28)) == (8, 14, 14)


@pytest.mark.parametrize("channels", [1, 3])    # im2col copies one channel by kernel position, several at once
def test_im2col_and_col2im_are_adjoint(channels, rng):
    """<im2col(x), c> = <x, scatter(c)> for every x and c: scattering c's (u, v) blocks back where they were read
    is im2col's transpose (col2im), which the convolution's input gradient needs."""
    x = rng.standard_normal((2, channels, 7, 6))
    cols, (ho, wo) = im2col(to_device(x), 3, 2)
    cols = to_numpy(cols)
    c = rng.standard_normal(cols.shape)
    blocks = to_device(c.reshape(2, ho, wo, 3, 3, channels))
    dx = col2im(lambda u, v: blocks[:, :, :, u, v, :], x.shape, 3, 2, ho, wo)
    assert dx.shape == x.shape
    dx = to_numpy(dx)
    assert np.isclose((cols * c).sum(), (x * dx).sum(), rtol=1e-12)


@pytest.mark.parametrize("stride,padding", [(1, 0), (1, 1), (2, 0), (2, 1)])
def test_gradients_match_finite_differences(stride, padding, rng):
    conv = Conv2D(2, 3, 3, stride=stride, padding=padding, rng=rng)
    errors = check_layer(conv, to_device(_distinct(rng, (2, 2, 6, 5))), rng)
    assert set(errors) == {"dx", "W", "b"} and max(errors.values()) < TOLERANCE


def test_without_a_bias_it_is_the_convolution_with_b_zero_and_has_no_b(rng):
    with_b, without = Conv2D(2, 3, 3, padding=1, rng=np.random.default_rng(5)), \
        Conv2D(2, 3, 3, padding=1, bias=False, rng=np.random.default_rng(5))
    assert set(without.params) == set(without.grads) == {"W"} and without.config()["bias"] is False
    assert without.num_params == with_b.num_params - 3
    x = to_device(rng.standard_normal((2, 2, 5, 5)).astype(np.float32))
    np.testing.assert_array_equal(to_numpy(without.forward(x)), to_numpy(with_b.forward(x)))   # b starts at 0
    errors = check_layer(Conv2D(2, 3, 3, stride=2, padding=1, bias=False, rng=rng),
                         to_device(_distinct(rng, (2, 2, 6, 5))), rng)
    assert set(errors) == {"dx", "W"} and max(errors.values()) < TOLERANCE


def test_wrong_channels_are_named():
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\)"):
        Conv2D(3, 4).forward(to_device(np.zeros((1, 1, 5, 5), np.float32)))
    with pytest.raises(ValueError, match=r"takes inputs of shape \(3, H, W\)"):
        Conv2D(3, 4).output_shape((1, 28, 28))
