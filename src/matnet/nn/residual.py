"""A residual block: a sub-network whose output is added to its input (a skip connection)."""

from __future__ import annotations

from matnet.nn.conv import Conv2D
from matnet.nn.dense import Dense
from matnet.nn.layer import Layer, count

__all__ = ["Residual"]


class Residual(Layer):
    """``out = F(x) + shortcut(x)``, F a list of layers; the shortcut is the identity, or, when F changes the
    shape (or ``projection=True``), a projection: a 1x1 Conv2D with the right stride for images, a Dense layer for
    rows, made by ``build`` once the input's shape is known.

    backward: the gradient flows both ways and adds up: ``dx = dF(x)/dx . dout + dshortcut/dx . dout``
    (the identity passes dout on untouched, which is what keeps gradients alive through deep networks).
    """

    def __init__(self, layers: list[Layer], projection: bool | None = None, name: str | None = None):
        super().__init__(name)
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("a residual block needs at least one layer")
        for layer in self.layers:
            if not isinstance(layer, Layer):
                raise TypeError(f"a residual block takes layers, got {layer!r} (build specs with "
                                f"matnet.nn.build_layer)")
        self.projection = None
        self._want_projection = projection  # None: decide from the shapes

    @classmethod
    def from_config(cls, config, build_layer, name=None):
        config = dict(config)
        if "layers" in config:  # missing: the constructor's TypeError says so
            config["layers"] = [build_layer(spec) for spec in config["layers"]]
        return cls(**config, name=name)

    @classmethod
    def sublayer_specs(cls, config):
        layers = config.get("layers", [])
        if not isinstance(layers, list):
            raise ValueError("a residual block's layers must be a list")
        return layers

    def sublayers(self):
        return self.layers + ([self.projection] if self.projection is not None else [])

    def made_layers(self):
        return [self.projection] if self.projection is not None else []

    def build(self, input_shape):
        """Build F's layers in order, then make the projection if the shortcut needs one (kept if already made)."""
        into = tuple(input_shape)
        shape = self._through(into, lambda layer, shape: layer.build(shape))
        if self.projection is None and self._needs_projection(into, shape):
            kind, arguments = self._projection_for(into, shape)
            self.projection = kind(**arguments)
        self._check_shortcut(into, shape)
        return shape

    def params_to_make(self, input_shape):
        """The parameters of the projections ``build`` would make, this block's and those of blocks inside it:
        found with ``output_shape``, which makes nothing, and the projection's own sizing rule."""
        into, made = tuple(input_shape), []

        def step(layer, shape):
            made.append(layer.params_to_make(shape))
            return layer.output_shape(shape)

        shape = self._through(into, step)
        self._check_shortcut(into, shape)
        if self.projection is None and self._needs_projection(into, shape):
            kind, arguments = self._projection_for(into, shape)
            made.append(count(kind.param_shapes(arguments)))
        return sum(made)

    def output_shape(self, input_shape):
        into = tuple(input_shape)
        shape = self._through(into, lambda layer, shape: layer.output_shape(shape))
        self._check_shortcut(into, shape)
        return shape

    def _through(self, shape, step):
        """The shape after F's layers, each given the shape before it by ``step(layer, shape)`` (build or ask)."""
        for layer in self.layers:
            try:
                shape = tuple(step(layer, shape))
            except ValueError as err:
                raise ValueError(f"(inside, at {type(layer).__name__}) {err}") from None
        return shape

    def _needs_projection(self, into, out) -> bool:
        return out != into if self._want_projection is None else self._want_projection

    def _check_shortcut(self, into, out):
        """A ValueError unless the shortcut maps ``into`` onto ``out``: the projection made, or the one ``build``
        would make (found without making it)."""
        if self.projection is not None:
            if tuple(self.projection.output_shape(into)) != out:
                raise ValueError(f"cannot project the shortcut {into} onto the block's output {out}")
        elif self._needs_projection(into, out):
            self._projection_for(into, out)

    @staticmethod
    def _projection_for(into, out):
        """``(layer type, arguments)`` of the projection from ``into`` onto ``out``: Dense for rows; for images
        (C, H, W) a 1x1 Conv2D with stride s = H / H_out, whose output is ceil(W / s) wide, which must be W_out."""
        if len(into) == 1 and len(out) == 1:
            return Dense, {"in_features": into[0], "out_features": out[0], "init": "xavier_normal"}
        if len(into) == 3 and len(out) == 3 and into[1] % out[1] == 0 and into[1] // out[1] == into[2] // out[2]:
            stride = into[1] // out[1]
            if (into[2] - 1) // stride + 1 != out[2]:
                raise ValueError(f"cannot project the shortcut {into} onto the block's output {out}")
            return Conv2D, {"in_channels": into[0], "out_channels": out[0], "kernel_size": 1, "stride": stride,
                            "init": "he_normal"}
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

    def trace(self, x):
        h, seen = x, []
        for layer in self.layers:
            h, inner = layer.trace(h)
            seen += inner
        shortcut = x
        if self.projection is not None:
            shortcut, inner = self.projection.trace(x)
            seen += inner
        out = h + shortcut
        return out, seen + [(self, out)]

    def config(self):
        # a block not yet built says it will have the projection it was asked for (built, it has it)
        projection = self.projection is not None or self._want_projection is True
        return {"layers": [layer.spec() for layer in self.layers], "projection": projection}
