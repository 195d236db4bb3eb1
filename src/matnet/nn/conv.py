"""2-D convolution as one matrix product (im2col), and its backward pass (im2col's transpose, col2im)."""

from __future__ import annotations

import numpy as np

from matnet.backend import xp
from matnet.nn.init import initialize
from matnet.nn.layer import Layer, whole
from matnet.nn.layout import as_rows, col2im, column_sums, im2col, pad

__all__ = ["Conv2D"]


class Conv2D(Layer):
    """Each of F filters (C x k x k) slides over the zero-padded input with the given stride:
    ``out[n, f, i, j] = b[f] + sum_{c, u, v} W[f, c, u, v] * x_pad[n, c, i*s + u, j*s + v]``.

    As a matrix product: ``cols = im2col(x_pad)`` (N*Ho*Wo, k*k*C), ``out = cols @ Wm.T + b`` with Wm the filters
    as rows (F, k*k*C), each row in the same (u, v, c) order as the columns.

    forward:   x: (N, C, H, W),  W: (F, C, k, k),  b: (F,)  ->  out: (N, F, Ho, Wo),  Ho = (H + 2p - k) // s + 1
    backward:  dout (N, F, Ho, Wo) as rows d (N*Ho*Wo, F):  dWm = d.T @ cols,  db = d.sum(0),
               dx = col2im(d @ Wm) (im2col's transpose), with the padding cropped

    ``bias=False`` leaves b out (no parameter, no pass each way): for a convolution followed by BatchNorm, which
    subtracts each channel's mean, so b would change nothing and its gradient is exactly zero.

    The output is the product's (N*Ho*Wo, F) rows seen as (N, F, Ho, Wo): a view whose memory is channels-last
    (N, Ho, Wo, F), which the next layers keep, and which makes the next im2col and this backward's ``d`` cheap.
    """

    decayed = ("W",)  # L2 weight decay shrinks the filters, not the biases

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: int = 0, init: str = "he_normal", *, bias: bool = True,
                 rng: np.random.Generator | None = None, dtype=np.float32, name: str | None = None):
        super().__init__(name)
        if min(in_channels, out_channels, kernel_size, stride) < 1 or padding < 0:
            raise ValueError(f"Conv2D({in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}, "
                             f"padding={padding}): sizes must be positive and padding >= 0")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.padding, self.init = int(kernel_size), int(stride), int(padding), init
        self.bias = bool(bias)
        self.params = {key: xp.zeros(shape, dtype=dtype) for key, shape in self.param_shapes(self.config()).items()}
        self.grads = {key: xp.zeros_like(p) for key, p in self.params.items()}
        self.own_rng = rng is not None   # weights drawn from it are kept in a network too
        self.reset_parameters(rng if rng is not None else np.random.default_rng(0))

    @classmethod
    def param_shapes(cls, config):
        """W (out_channels, in_channels, k, k), and b (out_channels,) unless ``bias=False``."""
        arguments = cls.arguments(config)
        f, c = whole(arguments["out_channels"], "out_channels"), whole(arguments["in_channels"], "in_channels")
        k = whole(arguments["kernel_size"], "kernel_size")
        return {"W": (f, c, k, k), **({"b": (f,)} if arguments["bias"] else {})}

    def reset_parameters(self, rng) -> None:
        W = self.params["W"]
        W[...] = initialize(self.init, rng, W.shape, dtype=W.dtype)   # fan_in = C * k * k
        if self.bias:
            self.params["b"][...] = 0

    def forward(self, x, training: bool = False):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self.describe()}: expected input of shape (N, {self.in_channels}, H, W), "
                             f"got {tuple(x.shape)}")
        p, k = self.padding, self.kernel_size
        x_pad = pad(x, p) if p else x
        cols, (ho, wo) = im2col(x_pad, k, self.stride)
        out = cols @ self._filter_rows().T
        if self.bias:
            out += self.params["b"]
        if training:
            self._cache = (cols, x_pad.shape, ho, wo)
        return out.reshape(x.shape[0], ho, wo, self.out_channels).transpose(0, 3, 1, 2)

    def _filter_rows(self):
        """W (F, C, k, k) as rows (F, k*k*C) in im2col's column order."""
        return self.params["W"].transpose(0, 2, 3, 1).reshape(self.out_channels, -1)

    def backward(self, dout):
        cols, padded_shape, ho, wo = self._saved()
        d = as_rows(dout)                                      # (N*Ho*Wo, F), free when dout is channels-last
        k, c = self.kernel_size, self.in_channels
        dW_rows = d.T @ cols
        self.grads["W"][...] = dW_rows.reshape(self.out_channels, k, k, c).transpose(0, 3, 1, 2)
        if self.bias:
            self.grads["b"][...] = column_sums(d)
        if not self.input_grad:
            return None
        # dx = col2im(d @ Wm), one kernel position at a time: position (u, v)'s block of d @ Wm is d @ W[:, :, u, v],
        # added straight to where that position read, so the (N*Ho*Wo, k*k*C) matrix is never built (what it saves:
        # the CNN profile in docs/benchmarks.md).
        n = dout.shape[0]
        W = self.params["W"]
        dx = col2im(lambda u, v: (d @ W[:, :, u, v]).reshape(n, ho, wo, c), padded_shape, k, self.stride, ho, wo)
        p = self.padding
        return dx[:, :, p:dx.shape[2] - p, p:dx.shape[3] - p] if p else dx

    def output_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[0] != self.in_channels:
            raise ValueError(f"takes inputs of shape ({self.in_channels}, H, W) but the layer before it gives "
                             f"{tuple(input_shape)}")
        _, h, w = input_shape
        ho = (h + 2 * self.padding - self.kernel_size) // self.stride + 1
        wo = (w + 2 * self.padding - self.kernel_size) // self.stride + 1
        if ho < 1 or wo < 1:
            raise ValueError(f"needs inputs of at least {self.kernel_size}x{self.kernel_size} after padding, "
                             f"got {h}x{w}")
        return (self.out_channels, ho, wo)

    def config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels, "kernel_size": self.kernel_size,
                "stride": self.stride, "padding": self.padding, "init": self.init, "bias": self.bias}
