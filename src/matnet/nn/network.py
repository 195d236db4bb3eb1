"""A network: layers applied in order, and the chain rule applied in reverse."""

from __future__ import annotations

import sys
from collections import Counter

import numpy as np

from matnet.backend import check_environment, to_numpy, xp
from matnet.nn.activations import Softmax, softmax
from matnet.nn.inputs import as_batch
from matnet.nn.layer import Layer
from matnet.nn.losses import make_loss
from matnet.nn.parameters import Parameters
from matnet.terminal import shown

__all__ = ["Network"]


class Network:
    """``out = f_L(... f_2(f_1(x)))``; backward sends ``dout`` through ``f_L ... f_1``, each layer turning the
    gradient of its output into the gradient of its input (the chain rule) and filling its ``grads`` on the way.

    ``seed`` initialises every layer's parameters (and dropout's generators) from one Generator, in layer order,
    so the same seed always gives the same network; a layer given its own ``rng=`` (``own_rng``) keeps what it
    drew from it and draws nothing from the seed. ``input_shape`` is one sample's shape, e.g. ``(784,)``; it is
    taken from the first layer when that layer knows it. Construction builds each layer once, in order (a block
    makes its projection then), names the unnamed ones, initialises, casts to ``dtype`` and gathers every
    parameter into one flat vector (``parameters``), which the layers then belong to. ``loss`` names the loss
    the network is trained under (``matnet.nn.losses.LOSSES``): training and evaluation use it unless told
    otherwise, the model file records it, and it says what the outputs mean (``probabilities``).
    """

    def __init__(self, layers: list[Layer], *, seed: int = 0, dtype=np.float32,
                 input_shape: tuple[int, ...] | None = None, name: str = "sequential", loss: str = "cross-entropy"):
        check_environment()       # MATNET_BACKEND named a device that cannot be used: say so, not run elsewhere
        if not layers:
            raise ValueError("a network needs at least one layer")
        make_loss(loss)           # an unknown name: the ValueError that lists the losses
        self.loss = loss
        self.layers = list(layers)
        self.name = name
        taken = [layer.describe() for layer in self.all_layers() if layer.owner is not None]
        if taken:
            raise ValueError(f"{', '.join(taken)}: already in another network, whose flat parameter vector holds "
                             f"their arrays; give each network its own layers")
        self.input_shape = tuple(input_shape) if input_shape else self._infer_input_shape()
        self.output_shapes = self._build()
        self._name_layers()
        rng = np.random.default_rng(seed)
        for layer in self.all_layers():
            if not layer.own_rng:
                layer.reset_parameters(rng)
            layer.input_grad = True
        self.layers[0].input_grad = False  # its input is data: nobody needs dL/dx there
        self.parameters = None
        self._cast(dtype)

    # --- construction --------------------------------------------------------------------------------
    def all_layers(self) -> list[Layer]:
        """Every layer, those inside blocks included, in order (a block before its sublayers)."""
        def walk(layers):
            for layer in layers:
                yield layer
                yield from walk(layer.sublayers())
        return list(walk(self.layers))

    def _name_layers(self):
        """Unnamed layers get ``type_k``, numbered in order, the layers blocks made (projections) after all the
        others, so that a projection never renumbers the layers the user wrote; names the user gave must be
        unique."""
        layers = self.all_layers()
        made = {id(sub) for layer in layers for sub in layer.made_layers()}
        layers = [layer for layer in layers if id(layer) not in made] + [layer for layer in layers if id(layer) in made]
        names = set()
        for layer in layers:
            if layer.name is not None:
                if layer.name in names:
                    raise ValueError(f"two layers are named {layer.name!r}; layer names must be unique")
                names.add(layer.name)
        seen = Counter()
        for layer in layers:
            if layer.name is None:
                base = type(layer).__name__.lower()
                while f"{base}_{seen[base]}" in names or seen[base] == 0:
                    seen[base] += 1
                layer.name = f"{base}_{seen[base]}"
                names.add(layer.name)

    def _infer_input_shape(self):
        first = self.layers[0]
        if hasattr(first, "in_features"):
            return (first.in_features,)
        raise ValueError("give input_shape=... (one sample's shape, e.g. (1, 28, 28)): the first layer does not "
                         "say what input it takes")

    def _build(self):
        """Build every layer in order, each for the output shape of the one before; those shapes, one per layer."""
        shapes, shape = [], self.input_shape
        for layer in self.layers:
            try:
                shape = tuple(layer.build(shape))
            except ValueError as err:
                self._name_layers()  # the layers are named after building; the message needs this one's name now
                raise ValueError(f"layer {layer.name} ({type(layer).__name__}) {err}") from None
            shapes.append(shape)
        return shapes

    def _cast(self, dtype):
        if self.parameters is not None:
            self.parameters.release()  # the layers get new arrays, which the new vector below gathers
        for layer in self.layers:
            layer.astype(dtype)
        self.dtype = np.dtype(dtype)
        self.parameters = Parameters(self.all_layers())

    def buffers(self) -> dict:
        """``{"layer.key": array}`` of every layer's buffers (live arrays)."""
        return {f"{layer.name}.{key}": array for layer in self.all_layers() for key, array in layer.buffers.items()}

    def astype(self, dtype) -> "Network":
        """Cast every parameter and buffer (float64 for gradient checks) into a new flat vector, same order and
        values, and return self. ``parameters`` is then a new object: take it again after the cast."""
        self._cast(dtype)
        return self

    # --- the two passes ------------------------------------------------------------------------------
    def forward(self, x, training: bool = False, *, seen: dict | None = None):
        """x: (N, *input_shape) -> output (N, *output_shape); ``training`` turns on dropout and caching.
        ``seen``, if given, receives each layer's output by the layer's name (for looking at one step)."""
        for layer in self.layers:
            x = layer.forward(x, training)
            if seen is not None:
                seen[layer.name] = x
        return x

    __call__ = forward

    def trace(self, x) -> list[tuple[Layer, object]]:
        """Every layer's output for x, those inside blocks included, in evaluation mode: ``[(layer, output)]``."""
        seen = []
        for layer in self.layers:
            x, inner = layer.trace(x)
            seen += inner
        return seen

    def backward(self, dout, *, seen: dict | None = None):
        """dout = dL/d(output) -> fills every layer's grads; returns dL/dx only if the first layer computes it.
        ``seen``, if given, receives the gradient of each layer's output, ``dL/d(out)``, by the layer's name."""
        for layer in reversed(self.layers):
            if seen is not None:
                seen[layer.name] = dout
            dout = layer.backward(dout)
        return dout

    def forget(self) -> None:
        """Drop every layer's cache of the last training-mode forward (the memory a finished step still holds)."""
        for layer in self.layers:
            layer.forget()

    # --- inference -----------------------------------------------------------------------------------
    def predict_proba(self, x, *, batch_size: int = 1000) -> np.ndarray:
        """Class probabilities (N, C) as a NumPy array: softmax of the logits, in batches, in evaluation mode.

        ``x`` is a batch ``(N, *input_shape)``, the same samples in another layout of the same size (flat rows
        ``(N, 784)`` for a CNN, ``(N, 28, 28)`` for an MLP), or a single sample (``(784,)``, ``(28, 28)`` or
        ``(1, 28, 28)``), which is a batch of one: the result is then ``(1, C)``. NaN or infinite inputs are
        refused (see :mod:`matnet.nn.inputs`). The engine shows nothing; ``Sequential.predict_proba`` adds
        ``verbose``, a bar over the batches."""
        return self._predict_proba(x, batch_size, None)

    def _predict_proba(self, x, batch_size, progress) -> np.ndarray:
        """``predict_proba``, its batches wrapped by ``progress`` (as for ``forward_batches``)."""
        x = as_batch(x, self.input_shape, self.dtype)
        chunks = [self.probabilities(out) for out in self.forward_batches(x, batch_size=batch_size, progress=progress)]
        # one transfer for the whole result
        return to_numpy(xp.concatenate(chunks)) if chunks else np.zeros((0,) + self.output_shapes[-1], self.dtype)

    @property
    def ends_in_softmax(self) -> bool:
        """Whether the network's output is already class probabilities: its last layer is a Softmax. The one place
        this is decided: ``probabilities`` applies no second softmax then, the trainer refuses SoftmaxCrossEntropy
        (which takes logits), and the ONNX and C exports end in the model's own Softmax."""
        return isinstance(self.layers[-1], Softmax)

    @property
    def outputs_scores(self) -> bool:
        """Whether the outputs are per-class scores, not logits: trained under MSE to approach one-hot rows
        (after a Sigmoid, or linear) and not ending in a Softmax. ``probabilities`` normalises them; the ONNX and
        C exports refuse them."""
        return self.loss == "mse" and not self.ends_in_softmax

    def probabilities(self, output):
        """The network's output (N, C) -> class probabilities (N, C), on the device: softmax of the logits; the
        output itself when the network ends in a Softmax layer (``ends_in_softmax``); for scores
        (``outputs_scores``), each row's scores clipped at 0 and divided by their sum, ``p_i = max(a_i, 0) /
        sum_j max(a_j, 0)`` (the same largest class; a row without a positive score is uniform). A sigmoid's
        scores are each in (0, 1) and need not sum to 1: a digit can score 0.9 and 0.8, reported as 0.53, 0.47."""
        if self.ends_in_softmax:
            return output
        if not self.outputs_scores:
            return softmax(output, axis=1)
        scores = xp.maximum(output, 0)
        sums = scores.sum(axis=1, keepdims=True)
        return xp.where(sums > 0, scores / xp.where(sums > 0, sums, 1), 1.0 / output.shape[1]).astype(output.dtype)

    def predict(self, x, *, batch_size: int = 1000) -> np.ndarray:
        """Predicted class indices (N,), a single sample included (then (1,)); ``x`` as for ``predict_proba``."""
        return self.predict_proba(x, batch_size=batch_size).argmax(axis=1)

    def forward_batches(self, x, *, batch_size: int = 1000, progress=None):
        """``forward(x)`` (x a checked batch) ``batch_size`` samples at a time, in evaluation mode: yields each
        batch's output. ``progress``, if given, wraps the range of batch starts (a progress bar, made by the
        caller: see ``matnet.train.callbacks.batch_bar``)."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size: expected a whole number >= 1, got {batch_size!r}")
        starts = range(0, len(x), batch_size)
        if progress is not None:
            starts = progress(starts)
        for start in starts:
            yield self.forward(x[start:start + batch_size])

    # --- description ---------------------------------------------------------------------------------
    @property
    def num_params(self) -> int:
        return sum(layer.num_params for layer in self.all_layers())

    def summary_text(self) -> str:
        """Keras-style table: layer (type), output shape, parameter count, then the total (names ``shown``: a
        control character in a model file's name is written out, not obeyed)."""
        rows = [(f"{shown(layer.name)} ({type(layer).__name__})", str((None,) + shape),
                 f"{layer.num_params + sum(sub.num_params for sub in layer.sublayers()):,}")
                for layer, shape in zip(self.layers, self.output_shapes)]
        head = ("Layer (type)", "Output Shape", "Param #")
        widths = [max(len(r[i]) for r in rows + [head]) + 3 for i in range(3)]
        line = lambda r: "".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip()  # noqa: E731
        rule = "=" * sum(widths)
        body = [f'Model: "{shown(self.name)}"', rule, line(head), rule, *map(line, rows), rule,
                f"Total params: {self.num_params:,}", f"Input shape: {(None,) + self.input_shape}"]
        return "\n".join(body)

    def summary(self, file=None) -> None:
        print(self.summary_text(), file=file or sys.stdout)

    __str__ = summary_text

    def __repr__(self) -> str:
        return f"{type(self).__name__}([{', '.join(map(repr, self.layers))}])"
