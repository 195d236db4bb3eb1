"""Pooling: the largest or the mean value of each window, and the global average of each channel."""

from __future__ import annotations

from matnet.backend import xp
from matnet.nn.layout import blocks, col2im, window_view, windows
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

    def config(self):
        return {"pool_size": self.pool_size, "stride": self.stride}


class MaxPool2D(_Pool2D):
    """``out[n, c, i, j] = max`` of the k x k window at (i*s, j*s).

    forward:   x: (N, C, H, W)  ->  out: (N, C, Ho, Wo),  Ho = (H - k) // s + 1; a running maximum over the k*k
               views of what each kernel position reads (``window_view``), so nothing is copied into windows
    backward:  each window's gradient goes to its maximum; on a tie, to the first maximum in reading order (as
               in PyTorch), so the gradient is routed once, never duplicated

    Both passes work on the channels-last view (N, H, W, C) (see ``layout``), whatever x's memory, so that the
    views read runs of contiguous channels.
    """

    def _views(self, a_cl, ho, wo):
        """The k*k views (N, Ho, Wo, C) of a_cl (N, H, W, C), one per kernel position, in reading order."""
        k = self.pool_size
        return [window_view(a_cl, u, v, self.stride, ho, wo) for u in range(k) for v in range(k)]

    def forward(self, x, training=False):
        _, ho, wo = self.output_shape(tuple(x.shape[1:]))
        x_cl = x.transpose(0, 2, 3, 1)
        views = self._views(x_cl, ho, wo)
        out = views[0].copy()
        for view in views[1:]:
            xp.maximum(out, view, out=out)
        if training:
            self._cache = (x_cl, out)
        return out.transpose(0, 3, 1, 2)

    def backward(self, dout):
        x_cl, out = self._saved()
        d = dout.transpose(0, 2, 3, 1)                              # (N, Ho, Wo, C)
        if self.stride == self.pool_size:
            dx_cl = self._route_blocks(x_cl, out, d)
        else:
            dx_cl = self._route_overlapping(x_cl, out, d)
        return dx_cl.transpose(0, 3, 1, 2)

    def _route_blocks(self, x_cl, out, d):
        """Windows that do not overlap (s = k), seen as axes of their own, (N, Ho, k, Wo, k, C): one comparison with
        the maximum marks every place that holds it, the ties are cleared past the first, and one product routes."""
        n, ho, wo, c = out.shape
        k = self.pool_size
        holds_max = blocks(x_cl, k, ho, wo) == out[:, :, None, :, None, :]
        unrouted = ~holds_max[:, :, 0, :, 0, :]                     # windows whose gradient is still to route
        for u in range(k):
            for v in range(k):
                if u or v:
                    first = holds_max[:, :, u, :, v, :]
                    first &= unrouted
                    unrouted ^= first
        routed = holds_max * d[:, :, None, :, None, :]              # (N, Ho, k, Wo, k, C)
        h, w = x_cl.shape[1:3]
        if (h, w) == (ho * k, wo * k):
            return routed.reshape(n, h, w, c)
        dx_cl = xp.zeros(x_cl.shape, dtype=d.dtype)                 # rows and columns no window reads get 0
        dx_cl[:, :ho * k, :wo * k, :] = routed.reshape(n, ho * k, wo * k, c)
        return dx_cl

    def _route_overlapping(self, x_cl, out, d):
        """Windows that overlap or leave gaps: the kernel positions are visited in reading order, each takes what
        is still unrouted where it holds the maximum, added where it read."""
        ho, wo = out.shape[1:3]
        unrouted = d.copy()                                         # (N, Ho, Wo, C), emptied position by position
        dx_cl = xp.zeros(x_cl.shape, dtype=d.dtype)
        views = list(zip(self._views(x_cl, ho, wo), self._views(dx_cl, ho, wo), strict=True))
        for position, (view, dx_view) in enumerate(views):
            routed = unrouted * (view == out)
            dx_view += routed
            if position < len(views) - 1:
                unrouted -= routed
        return dx_cl


class AvgPool2D(_Pool2D):
    """``out[n, c, i, j] = mean`` of the k x k window at (i*s, j*s);  backward spreads dout / k^2 over the window."""

    def forward(self, x, training=False):
        out = windows(x, self.pool_size, self.stride).mean(axis=(-2, -1))
        if training:
            self._cache = x.shape
        return out

    def backward(self, dout):
        shape = self._saved()
        share = (dout * (1.0 / self.pool_size ** 2)).transpose(0, 2, 3, 1)
        return col2im(lambda u, v: share, shape, self.pool_size, self.stride, *dout.shape[2:])


class GlobalAvgPool(Layer):
    """Each channel's mean over all positions: x (N, C, H, W) -> (N, C);  dx = dout / (H W), broadcast."""

    def forward(self, x, training=False):
        if training:
            self._cache = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, dout):
        n, c, h, w = self._saved()
        return xp.broadcast_to((dout * (1.0 / (h * w)))[:, :, None, None], (n, c, h, w)).copy()

    def output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"takes inputs of shape (C, H, W) but the layer before it gives {tuple(input_shape)}")
        return (input_shape[0],)
