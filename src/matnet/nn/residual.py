"""A residual block: a sub-network whose output is added to its input (a skip connection)."""

from __future__ import annotations

from matnet.nn.layer import Layer

__all__ = ["Residual"]


class Residual(Layer):
    """``out = F(x) + shortcut(x)``, F a list of layers; the shortcut is the identity, or, when F changes the
    shape, a projection: a 1x1 Conv2D with the right stride for images, a Dense layer for rows (made when the
    network checks shapes).

    backward: the gradient flows both ways and adds up: ``dx = dF(x)/dx . dout + dshortcut/dx . dout``
    (the identity passes dout on untouched, which is what keeps gradients alive through deep networks).
    """

    def __init__(self, layers: list, projection: bool | None = None, name: str | None = None):
        super().__init__(name)
        from matnet.nn.registry import build_layer   # the registry knows every layer type, this one included

        self.layers = [build_layer(layer) if isinstance(layer, dict) else layer for layer in layers]
        if not self.layers:
            raise ValueError("a residual block needs at least one layer")
        self.projection = None
        self._want_projection = projection  # None: decide from the shapes

    def sublayers(self):
        return self.layers + ([self.projection] if self.projection is not None else [])

    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.layers:
            try:
                shape = tuple(layer.output_shape(shape))
            except ValueError as err:
                raise ValueError(f"(inside, at {type(layer).__name__}) {err}") from None
        needed = shape != tuple(input_shape) if self._want_projection is None else self._want_projection
        if needed and self.projection is None:
            self.projection = self._make_projection(tuple(input_shape), shape)
        if self.projection is not None and tuple(self.projection.output_shape(tuple(input_shape))) != shape:
            raise ValueError(f"cannot project the shortcut {tuple(input_shape)} onto the block's output {shape}")
        return shape

    @staticmethod
    def _make_projection(into, out):
        from matnet.nn.conv import Conv2D
        from matnet.nn.dense import Dense

        if len(into) == 1 and len(out) == 1:
            return Dense(into[0], out[0], init="xavier_normal")
        if len(into) == 3 and len(out) == 3 and into[1] % out[1] == 0 and into[1] // out[1] == into[2] // out[2]:
            return Conv2D(into[0], out[0], kernel_size=1, stride=into[1] // out[1], init="he_normal")
        raise ValueError(f"no projection maps {into} to {out}")

    def forward(self, x, training=False):
        h = x
        for layer in self.layers:
            h = layer.forward(h, training)
        shortcut = self.projection.forward(x, training) if self.projection is not None else x
        return h + shortcut

    def backward(self, dout):
        d = dout
        for layer in reversed(self.layers):
            d = layer.backward(d)
        d_shortcut = self.projection.backward(dout) if self.projection is not None else dout
        return d + d_shortcut

    def config(self):
        from matnet.nn.registry import layer_spec

        return {"layers": [layer_spec(layer) for layer in self.layers], "projection": self.projection is not None}
