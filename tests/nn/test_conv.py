import numpy as np
import pytest

from matnet.nn import Conv2D
from matnet.nn.conv import col2im, im2col
from matnet.nn.gradcheck import TOLERANCE, _distinct, check_layer


def image_4x4():
    return np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)


def test_3x3_kernel_on_a_4x4_image_by_hand():
    conv = Conv2D(1, 1, 3)
    conv.params["W"][...] = 1
    out = conv.forward(image_4x4().astype(np.float32))
    # window sums: top-left 0+1+2+4+5+6+8+9+10 = 45, then +9 per step right, +36 per step down
    np.testing.assert_allclose(out, [[[[45, 54], [81, 90]]]])
    conv.params["W"][...] = 0
    conv.params["W"][0, 0, 0, 0], conv.params["W"][0, 0, 2, 2] = 1, -1      # x[i, j] - x[i+2, j+2]
    conv.params["b"][...] = 0.5
    np.testing.assert_allclose(conv.forward(image_4x4().astype(np.float32)), np.full((1, 1, 2, 2), -9.5))


def test_padding_and_stride_shapes():
    x = np.zeros((2, 3, 28, 28), np.float32)
    assert Conv2D(3, 8, 3, padding=1).forward(x).shape == (2, 8, 28, 28)
    assert Conv2D(3, 8, 3, stride=2, padding=1).forward(x).shape == (2, 8, 14, 14)
    assert Conv2D(3, 8, 5).forward(x).shape == (2, 8, 24, 24)
    assert Conv2D(3, 8, 3, stride=2, padding=1).output_shape((3, 28, 28)) == (8, 14, 14)


def test_im2col_and_col2im_are_adjoint(rng):
    """<im2col(x), c> = <x, col2im(c)> for every x and c: col2im is the transpose that backward needs."""
    x = rng.standard_normal((2, 3, 7, 6))
    cols, (ho, wo) = im2col(x, 3, 2)
    c = rng.standard_normal(cols.shape)
    assert np.isclose((cols * c).sum(), (x * col2im(c, x.shape, 3, 2, ho, wo)).sum())


@pytest.mark.parametrize("stride,padding", [(1, 0), (1, 1), (2, 0), (2, 1)])
def test_gradients_match_finite_differences(stride, padding, rng):
    conv = Conv2D(2, 3, 3, stride=stride, padding=padding, rng=rng)
    errors = check_layer(conv, _distinct(rng, (2, 2, 6, 5)), rng)
    assert set(errors) == {"dx", "W", "b"} and max(errors.values()) < TOLERANCE


def test_wrong_channels_are_named():
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\)"):
        Conv2D(3, 4).forward(np.zeros((1, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"takes inputs of shape \(3, H, W\)"):
        Conv2D(3, 4).output_shape((1, 28, 28))
