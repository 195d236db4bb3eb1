"""All of a network's parameters in one flat vector, and all their gradients in another.

Each layer's ``params["W"]`` is a view into ``values`` (and ``grads["W"]`` into ``grads``), so layers read and
write their own arrays as usual while an optimizer updates everything with a handful of vector operations, gradient
clipping is one dot product, and a snapshot of the weights is one copy. Weights (arrays of 2 or more dimensions)
come first, biases after: L2 weight decay applies to ``values[:n_decayed]``, the weights only.
"""

from __future__ import annotations

from matnet.backend import xp

__all__ = ["Parameters"]


class Parameters:
    """``values: (P,)``, ``grads: (P,)``, and ``names[i]`` (``"dense_1.W"``) with ``shapes[i]``, ``slices[i]``."""

    def __init__(self, layers):
        entries = [(layer, key) for layer in layers for key in layer.params]
        entries.sort(key=lambda entry: entry[0].params[entry[1]].ndim < 2)  # stable: weights first, then biases
        dtypes = {entry[0].params[entry[1]].dtype for entry in entries}
        if len(dtypes) > 1:
            raise ValueError(f"parameters have mixed dtypes {sorted(map(str, dtypes))}; cast the model first")
        dtype = dtypes.pop() if dtypes else xp.float32
        total = sum(int(layer.params[key].size) for layer, key in entries)
        self.values = xp.zeros(total, dtype=dtype)
        self.grads = xp.zeros(total, dtype=dtype)
        self.names, self.shapes, self.slices = [], [], []
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
            if array.ndim >= 2:
                self.n_decayed += array.size
            offset += array.size

    def __len__(self) -> int:
        return int(self.values.size)

    def arrays(self) -> dict:
        """``{name: array}``, views of the live values (copy them to keep a snapshot)."""
        return {name: self.values[span].reshape(shape)
                for name, span, shape in zip(self.names, self.slices, self.shapes)}
