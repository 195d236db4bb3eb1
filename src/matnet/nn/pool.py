"""Pooling: the largest or the mean value of each window, and the global average of each channel."""

from __future__ import annotations

from matnet.backend import xp
from matnet.nn.conv import _windows
from matnet.nn.layer import Layer

__all__ = ["MaxPool2D", "AvgPool2D", "GlobalAvgPool"]


class _Pool2D(Layer):
    def __init__(self, pool_size: int = 2, stride: int | None = None, name: str | None = None):
        super().__init__(name)
        self.pool_size = int(pool_size)
        self.stride = int(stride) if stride is not None else self.pool_size
        if self.pool_size < 1 or self.stride < 1:
            raise ValueError(f"{type(self).__name__}: pool size and stride must be positive")

    def output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"takes inputs of shape (C, H, W) but the layer before it gives {tuple(input_shape)}")
        c, h, w = input_shape
        k, s = self.pool_size, self.stride
        if h < k or w < k:
            raise ValueError(f"needs inputs of at least {k}x{k}, got {h}x{w}")
        return (c, (h - k) // s + 1, (w - k) // s + 1)

    def _scatter(self, per_position, shape, ho, wo):
        """dx (N, C, H, W) from the gradient each kernel position (i, j) receives: per_position(i, j) -> (N,C,Ho,Wo)."""
        k, s = self.pool_size, self.stride
        dx = xp.zeros(shape, dtype=per_position(0, 0).dtype)  # AvgPool: the input's layout is not kept
        for i in range(k):
            for j in range(k):
                dx[:, :, i:i + s * ho:s, j:j + s * wo:s] += per_position(i, j)
        return dx

    def config(self):
        return {"pool_size": self.pool_size, "stride": self.stride}


class MaxPool2D(_Pool2D):
    """``out[n, c, i, j] = max`` of the k x k window at (i*s, j*s).

    forward:   x: (N, C, H, W)  ->  out: (N, C, Ho, Wo),  Ho = (H - k) // s + 1; a running maximum over the k*k
               strided views ``x[:, :, u::s, v::s]`` (one per kernel position), so nothing is copied into windows
    backward:  each window's gradient goes to its maximum; on a tie, to the first maximum in reading order (as
               in PyTorch), so the gradient is routed once, never duplicated
    """

    def _positions(self, x, ho, wo):
        k, s = self.pool_size, self.stride
        for u in range(k):
            for v in range(k):
                yield u, v, x[:, :, u:u + s * (ho - 1) + 1:s, v:v + s * (wo - 1) + 1:s]

    def forward(self, x, training=False):
        _, ho, wo = self.output_shape(tuple(x.shape[1:]))
        out = None
        for _, _, view in self._positions(x, ho, wo):
            out = view.copy(order="K") if out is None else xp.maximum(out, view, out=out)  # keeps x's layout
        self._cache = (x, out) if training else None
        return out

    def backward(self, dout):
        x, out = self._saved()
        ho, wo = out.shape[2:]
        taken = xp.zeros_like(out, dtype=bool)
        dx = xp.zeros_like(x, dtype=dout.dtype)   # in x's memory layout (channels-last after a Conv2D)
        s = self.stride
        for u, v, view in self._positions(x, ho, wo):
            first = (view == out) & ~taken     # this position holds the maximum, and no earlier one did
            taken |= first
            dx[:, :, u:u + s * (ho - 1) + 1:s, v:v + s * (wo - 1) + 1:s] += dout * first
        return dx


class AvgPool2D(_Pool2D):
    """``out[n, c, i, j] = mean`` of the k x k window at (i*s, j*s);  backward spreads dout / k^2 over the window."""

    def forward(self, x, training=False):
        out = _windows(x, self.pool_size, self.stride).mean(axis=(-2, -1))
        self._cache = x.shape if training else None
        return out

    def backward(self, dout):
        shape = self._saved()
        share = dout * (1.0 / self.pool_size ** 2)
        return self._scatter(lambda i, j: share, shape, *dout.shape[2:])


class GlobalAvgPool(Layer):
    """Each channel's mean over all positions: x (N, C, H, W) -> (N, C);  dx = dout / (H W), broadcast."""

    def forward(self, x, training=False):
        self._cache = x.shape if training else None
        return x.mean(axis=(2, 3))

    def backward(self, dout):
        n, c, h, w = self._saved()
        return xp.broadcast_to((dout * (1.0 / (h * w)))[:, :, None, None], (n, c, h, w)).copy()

    def output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"takes inputs of shape (C, H, W) but the layer before it gives {tuple(input_shape)}")
        return (input_shape[0],)
