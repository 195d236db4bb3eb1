import numpy as np
import pytest

from matnet.backend import to_device, to_numpy
from matnet.nn import BatchNorm
from matnet.nn.gradcheck import TOLERANCE, check_layer


def test_training_standardises_each_channel_and_updates_running_statistics(rng):
    bn = BatchNorm(3, momentum=0.1)
    x = (rng.standard_normal((8, 3, 4, 4)) * np.array([2, 3, 4])[None, :, None, None] + 5).astype(np.float32)
    out = to_numpy(bn.forward(to_device(x), training=True))
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.var(axis=(0, 2, 3)), 1, atol=1e-3)
    m = 8 * 4 * 4
    np.testing.assert_allclose(to_numpy(bn.buffers["running_mean"]), 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(to_numpy(bn.buffers["running_var"]), 0.9 + 0.1 * x.var(axis=(0, 2, 3)) * m / (m - 1),
                               rtol=1e-5)


def test_evaluation_uses_the_running_statistics():
    bn = BatchNorm(2)
    bn.buffers["running_mean"][...] = to_device(np.array([1.0, -1.0]))
    bn.buffers["running_var"][...] = to_device(np.array([4.0, 0.25]))
    bn.params["gamma"][...] = to_device(np.array([2.0, 1.0]))
    bn.params["beta"][...] = to_device(np.array([0.0, 3.0]))
    out = to_numpy(bn.forward(to_device(np.array([[3.0, 0.0]], np.float32))))
    np.testing.assert_allclose(out, [[2 * 2 / np.sqrt(4 + 1e-5), 3 + 1 / np.sqrt(0.25 + 1e-5)]], rtol=1e-5)


@pytest.mark.parametrize("shape", [(6, 4), (4, 3, 3, 3)], ids=["dense", "conv"])
def test_gradients_match_finite_differences_in_training_mode(shape, rng):
    bn = BatchNorm(shape[1])
    bn.params["gamma"][...] = to_device(rng.uniform(0.5, 2, shape[1]))
    bn.params["beta"][...] = to_device(rng.standard_normal(shape[1]))
    errors = check_layer(bn, to_device(rng.standard_normal(shape)), rng)
    assert set(errors) == {"dx", "gamma", "beta"} and max(errors.values()) < TOLERANCE


def test_wrong_width():
    with pytest.raises(ValueError, match=r"expected input \(N, 3\)"):
        BatchNorm(3).forward(to_device(np.zeros((2, 4), np.float32)))
