"""All of a network's parameters in one flat vector, and all their gradients in another.

Each layer's ``params["W"]`` is a view into ``values`` (and ``grads["W"]`` into ``grads``), so layers read and
write their own arrays as usual while an optimizer updates everything with a handful of vector operations, gradient
clipping is one dot product, and a snapshot of the weights is one copy. The parameters a layer names in its
``decayed`` attribute (Dense's and Conv2D's ``W``) come first, all others after, each group in layer order: L2
weight decay applies to ``values[:n_decayed]``, the decayed ones only.

A layer whose arrays are views of a vector knows it (``layer.owner``), and refuses ``layer.astype``: new arrays
would leave the vector behind. ``Network.astype`` releases its layers, casts them and gathers them anew.
"""

from __future__ import annotations

from matnet.backend import xp

__all__ = ["Parameters"]


class Parameters:
    """``values: (P,)``, ``grads: (P,)``, and per parameter ``names[i]`` (``"dense_1.W"``) with ``shapes[i]``,
    ``slices[i]`` (its span of ``values``) and ``decays[i]`` (whether L2 weight decay applies to it: True for the
    first ``n_decayed`` entries of ``values``, False after)."""

    def __init__(self, layers):
        self.layers = list(layers)
        entries = [(layer, key) for layer in self.layers for key in layer.params]
        entries.sort(key=lambda entry: entry[1] not in entry[0].decayed)  # stable: decayed first, each in order
        dtypes = {entry[0].params[entry[1]].dtype for entry in entries}
        if len(dtypes) > 1:
            raise ValueError(f"parameters have mixed dtypes {sorted(map(str, dtypes))}; cast the model first")
        dtype = dtypes.pop() if dtypes else xp.float32
        total = sum(int(layer.params[key].size) for layer, key in entries)
        self.values = xp.zeros(total, dtype=dtype)
        self.grads = xp.zeros(total, dtype=dtype)
        self.names, self.shapes, self.slices, self.decays = [], [], [], []
        self.n_decayed = 0
        offset = 0
        for layer, key in entries:
            array = layer.params[key]
            span = slice(offset, offset + array.size)
            self.values[span] = array.reshape(-1)
            layer.params[key] = self.values[span].reshape(array.shape)
            layer.grads[key] = self.grads[span].reshape(array.shape)
            self.names.append(f"{layer.name}.{key}")
            self.shapes.append(tuple(array.shape))
            self.slices.append(span)
            self.decays.append(key in layer.decayed)
            if key in layer.decayed:
                self.n_decayed += array.size
            offset += array.size
        for layer in self.layers:
            layer.owner = self

    def release(self) -> None:
        """Let the layers go (before casting them): their arrays stay views of this vector until replaced, and
        this vector no longer follows them once they are; a new Parameters gathers them again."""
        for layer in self.layers:
            if layer.owner is self:
                layer.owner = None

    def __len__(self) -> int:
        return int(self.values.size)

    def arrays(self) -> dict:
        """``{name: array}``, views of the live values (copy them to keep a snapshot)."""
        return {name: self.values[span].reshape(shape)
                for name, span, shape in zip(self.names, self.slices, self.shapes)}
