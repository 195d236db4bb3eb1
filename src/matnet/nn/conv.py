"""2-D convolution as one matrix product (im2col), and its backward pass (im2col's adjoint, scatter_windows)."""

from __future__ import annotations

import numpy as np

from matnet.backend import xp
from matnet.nn.init import initialize
from matnet.nn.layer import Layer
from matnet.nn.layout import as_rows, column_sums

__all__ = ["Conv2D", "im2col", "scatter_windows", "pad_channels_last", "position_view"]


def _windows(x, k: int, stride: int):
    """x: (N, C, H, W) -> a strided view (N, C, Ho, Wo, k, k) of every k x k window (no copy)."""
    return xp.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]


def position_view(a_cl, u: int, v: int, stride: int, ho: int, wo: int):
    """a_cl: (N, H, W, C) -> the (N, Ho, Wo, C) view of what kernel position (u, v) reads in each of the Ho x Wo
    windows (no copy)."""
    return a_cl[:, u:u + stride * (ho - 1) + 1:stride, v:v + stride * (wo - 1) + 1:stride, :]


def im2col(x, k: int, stride: int):
    """x: (N, C, H, W) -> cols: (N*Ho*Wo, k*k*C), one row per output position, columns in (u, v, c) order (the one
    copy a convolution makes). The channel varies fastest: activations are stored channels-last (see forward),
    so the copy reads contiguous runs."""
    windows = _windows(x, k, stride)
    n, c, ho, wo = windows.shape[:4]
    if c > 1:
        return windows.transpose(0, 2, 3, 4, 5, 1).reshape(n * ho * wo, k * k * c), (ho, wo)
    # One channel (the input images): runs of one value would make that copy element by element; copying one
    # kernel position at a time reads whole image rows instead (the README's CNN profile has the figures).
    x_cl = x.transpose(0, 2, 3, 1)
    cols = xp.empty((n, ho, wo, k, k), dtype=x.dtype)
    for u in range(k):
        for v in range(k):
            cols[:, :, :, u, v] = position_view(x_cl, u, v, stride, ho, wo)[..., 0]
    return cols.reshape(n * ho * wo, k * k), (ho, wo)


def scatter_windows(block, shape, k: int, stride: int, ho: int, wo: int):
    """dx (N, C, H, W) = the sum, over kernel positions (u, v), of block(u, v) (N, Ho, Wo, C) added at the input
    positions (i*s + u, j*s + v) that position read. Loops over the k*k kernel positions only; dx is stored
    channels-last, like the activations.

    With ``block(u, v)`` the (u, v) columns of a (N*Ho*Wo, k*k*C) matrix, this is the adjoint (transpose) of
    im2col, often called col2im: each window's gradient added back where the window was read."""
    n, c, h, w = shape
    dx = None
    for u in range(k):
        for v in range(k):
            part = block(u, v)
            if dx is None:
                dx = xp.zeros((n, h, w, c), dtype=part.dtype)
            dx_at = position_view(dx, u, v, stride, ho, wo)
            dx_at += part
    return dx.transpose(0, 3, 1, 2)


def pad_channels_last(x, p: int):
    """x: (N, C, H, W) -> (N, C, H + 2p, W + 2p) with a zero border, stored channels-last (``xp.pad`` would
    return channels-first memory, and im2col would then gather every channel from far apart)."""
    n, c, h, w = x.shape
    padded = xp.zeros((n, h + 2 * p, w + 2 * p, c), dtype=x.dtype)
    padded[:, p:p + h, p:p + w, :] = x.transpose(0, 2, 3, 1)
    return padded.transpose(0, 3, 1, 2)


class Conv2D(Layer):
    """Each of F filters (C x k x k) slides over the zero-padded input with the given stride:
    ``out[n, f, i, j] = b[f] + sum_{c, u, v} W[f, c, u, v] * x_pad[n, c, i*s + u, j*s + v]``.

    As a matrix product: ``cols = im2col(x_pad)`` (N*Ho*Wo, k*k*C), ``out = cols @ Wm.T + b`` with Wm the filters
    as rows (F, k*k*C), each row in the same (u, v, c) order as the columns.

    forward:   x: (N, C, H, W),  W: (F, C, k, k),  b: (F,)  ->  out: (N, F, Ho, Wo),  Ho = (H + 2p - k) // s + 1
    backward:  dout (N, F, Ho, Wo) as rows d (N*Ho*Wo, F):  dWm = d.T @ cols,  db = d.sum(0),
               dx = im2col's adjoint applied to d @ Wm (scatter_windows), with the padding cropped

    The output is the product's (N*Ho*Wo, F) rows seen as (N, F, Ho, Wo): a view whose memory is channels-last
    (N, Ho, Wo, F), which the next layers keep, and which makes the next im2col and this backward's ``d`` cheap.
    """

    decayed = ("W",)  # L2 weight decay shrinks the filters, not the biases

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: int = 0, init: str = "he_normal", *, rng: np.random.Generator | None = None,
                 dtype=np.float32, name: str | None = None):
        super().__init__(name)
        if min(in_channels, out_channels, kernel_size, stride) < 1 or padding < 0:
            raise ValueError(f"Conv2D({in_channels}, {out_channels}, kernel_size={kernel_size}, stride={stride}, "
                             f"padding={padding}): sizes must be positive and padding >= 0")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size, self.stride, self.padding, self.init = int(kernel_size), int(stride), int(padding), init
        shape = (self.out_channels, self.in_channels, self.kernel_size, self.kernel_size)
        self.params = {"W": xp.zeros(shape, dtype=dtype), "b": xp.zeros(self.out_channels, dtype=dtype)}
        self.grads = {key: xp.zeros_like(p) for key, p in self.params.items()}
        self.reset_parameters(rng if rng is not None else np.random.default_rng(0))

    def reset_parameters(self, rng) -> None:
        W = self.params["W"]
        W[...] = initialize(self.init, rng, W.shape, dtype=W.dtype)   # fan_in = C * k * k
        self.params["b"][...] = 0

    def forward(self, x, training: bool = False):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{self.describe()}: expected input of shape (N, {self.in_channels}, H, W), "
                             f"got {tuple(x.shape)}")
        p, k = self.padding, self.kernel_size
        if p:
            x = pad_channels_last(x, p)
        cols, (ho, wo) = im2col(x, k, self.stride)
        out = cols @ self._filter_rows().T
        out += self.params["b"]
        self._cache = (cols, x.shape, ho, wo) if training else None
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
        self.grads["b"][...] = column_sums(d)
        if not self.input_grad:
            return None
        # dx = im2col's adjoint of d @ Wm, one kernel position at a time: position (u, v)'s block of d @ Wm is
        # d @ W[:, :, u, v], added straight to where that position read, so the (N*Ho*Wo, k*k*C) matrix is never built
        # (what it saves: the README's CNN profile).
        n = dout.shape[0]
        W = self.params["W"]
        dx = scatter_windows(lambda u, v: (d @ W[:, :, u, v]).reshape(n, ho, wo, c), padded_shape, k, self.stride,
                             ho, wo)
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
                "stride": self.stride, "padding": self.padding, "init": self.init}
