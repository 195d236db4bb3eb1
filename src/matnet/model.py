"""The user's model: a :class:`matnet.nn.Network` with Keras-style ``fit``, ``evaluate`` and ``save``.

    model = Sequential([Dense(784, 128), ReLU(), Dense(128, 64), ReLU(), Dense(64, 10)])
    history = model.fit(x_train, y_train, epochs=10, optimizer=Adam(1e-3), validation_data=(x_val, y_val))
    model.evaluate(x_test, y_test)      # {"loss": ..., "accuracy": ...}
    model.predict(x_test[:5])           # class indices; predict_proba gives the probabilities
    model.save("digits")                # digits.npz + digits.json; matnet.load("digits") reads them back

The math lives in ``matnet.nn``; this class only adds the training loop on top, so ``nn`` never imports it.
What ``fit``, ``evaluate`` and ``predict`` accept (and refuse) is checked once, in :mod:`matnet.nn.inputs`.

Model files are *written* here and *read* in :mod:`matnet.model_file`. Reading builds a Sequential, so model_file
imports this module; were ``save`` to import model_file back, the two would import each other (an import circle,
which tests/test_imports.py forbids, function-level imports included). Writing needs nothing above this module,
so it lives with the class it writes; reading, with all its checks of files it does not trust, stays apart.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from matnet.backend import to_numpy
from matnet.errors import MatnetError
from matnet.fileio import atomic_path, named_output, write_json
from matnet.nn.activations import ACTIVATIONS, ReLU
from matnet.nn.batchnorm import BatchNorm
from matnet.nn.conv import Conv2D
from matnet.nn.dense import Dense
from matnet.nn.dropout import Dropout
from matnet.nn.inputs import check_data, check_verbose
from matnet.nn.pool import GlobalAvgPool, MaxPool2D
from matnet.nn.registry import layer_spec
from matnet.nn.reshape import Flatten
from matnet.nn.residual import Residual
from matnet.nn.network import Network
from matnet.train.callbacks import batch_bar, standard_callbacks
from matnet.train.metrics import evaluate
from matnet.train.trainer import History, Trainer

__all__ = ["Sequential", "build_mlp", "build_cnn", "build_resnet", "verdicts", "ranked", "ARCHITECTURES", "FORMAT",
           "VERSION", "model_paths", "MAX_PARAMS", "params_limit", "check_params"]

FORMAT, VERSION = "matnet-model", 1   # a model file's "format" and "version" entries (matnet.model_file reads them)

# The one limit on a model's size, held when a network is built (build_mlp, build_cnn: before anything is
# allocated, so ``matnet train`` never trains what matnet would not load) and when a model file is read
# (matnet.model_file). No MNIST-shaped model needs more: the default MLP has 109,386 parameters, a wide ResNet a
# few million; 50 million float32 weights take 200 MB, their gradients and Adam's moments three times that.
# ``max_params=`` (load_model, build_mlp, build_cnn) or ``$MATNET_MAX_PARAMS`` raises it.
MAX_PARAMS = 50_000_000


def params_limit(max_params: int | None = None) -> int:
    """The limit: ``max_params`` if given, else ``$MATNET_MAX_PARAMS``, else MAX_PARAMS."""
    if max_params is not None:
        return int(max_params)
    value = os.environ.get("MATNET_MAX_PARAMS", "").strip()
    if not value:
        return MAX_PARAMS
    if not value.isdigit():
        raise MatnetError(f"MATNET_MAX_PARAMS={value!r}: expected a whole number of parameters")
    return int(value)


def count_text(n: int) -> str:
    """1,234,567; a count too long to read (a size of 1e300 in a hostile file) as 5.0e+300, also beyond a float's
    range (1e308 x 785: 7.8e+310), where ``float(n)`` is an OverflowError."""
    if n < 10**15:
        return f"{n:,}"
    if n < 10**300:
        return f"{float(n):.1e}"
    exponent = int(math.log10(n))                        # math.log10 takes an int of any size (and may round up)
    if n < 10**exponent:
        exponent -= 1
    return f"{n // 10 ** (exponent - 1) / 10:.1f}e+{exponent}"     # the first two digits, exact


def too_many(count: int, limit: int, advice: str = "") -> str:
    return (f"{count_text(count)} parameters, more than the limit of {limit:,} (no MNIST-shaped model needs that many; "
            f"raise it with {advice or 'max_params=... or MATNET_MAX_PARAMS'})")


def check_params(count: int, what: str, max_params: int | None = None) -> None:
    """A MatnetError naming ``what`` when ``count`` parameters are over the limit (``params_limit``)."""
    limit = params_limit(max_params)
    if count > limit:
        raise MatnetError(f"{what} would make {too_many(count, limit)}")


def model_paths(path: str | Path) -> tuple[Path, Path]:
    """``x`` or ``x.npz`` or ``x.json`` -> (``x.npz``, ``x.json``). (Run folders: see ``matnet.runfolder``.)"""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".npz", ".json") else path
    return stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")


class Sequential(Network):
    """Layers in order, plus ``classes`` (names of the outputs) and ``preprocessing`` (how inputs were made)."""

    def __init__(self, layers, *, seed: int = 0, classes=None, preprocessing: dict | None = None, **kwargs):
        super().__init__(layers, seed=seed, **kwargs)
        n_out = self.output_shapes[-1][0] if self.output_shapes[-1] else 1
        self.classes = tuple(classes) if classes is not None else tuple(str(i) for i in range(n_out))
        self.preprocessing = dict(preprocessing or {})

    def fit(self, x, y, *, epochs: int = 10, batch_size: int = 128, optimizer=None, loss=None, schedule=None,
            validation_data=None, clip_norm: float | None = None, early_stopping: int | None = None,
            callbacks=(), seed: int = 0, verbose: int = 1) -> History:
        """Train on (x, y); returns the History of per-epoch metrics.

        ``x``: a batch ``(N, *input_shape)`` or the same samples in another layout of the same size, e.g. flat
        rows ``(N, 784)`` for a CNN (reshaped, a view) or ``(N, 28, 28)`` for an MLP; finite numbers (converted to
        the model's dtype: float32 inputs are used as they are, float64 ones copied once). ``y``: class indices
        ``(N,)`` in ``[0, classes)`` (floats with whole values, such as 3.0, are accepted and converted), or rows
        of class probabilities ``(N, classes)``. ``validation_data=(x_val, y_val)`` is checked the same way.
        Anything else is a ValueError or TypeError naming the argument (see :mod:`matnet.nn.inputs`).

        ``verbose``: 1 (the default) a progress bar over each epoch's batches (on a terminal or in a notebook)
        and one line per epoch with its loss, accuracy, validation figures, learning rate and seconds; 2 the
        lines only; 0 nothing. ``early_stopping=k`` stops after k epochs without a better validation loss and
        restores the best weights."""
        verbose = check_verbose(verbose)
        x, y = self._check_data(x, y, ("x", "y"))
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                given = type(validation_data).__name__
                if isinstance(validation_data, (tuple, list)):
                    given = f"a {given} of {len(validation_data)}"
                raise TypeError(f"validation_data: expected a pair (x_val, y_val), got {given}")
            validation_data = self._check_data(*validation_data, ("validation_data[0]", "validation_data[1]"))
        callbacks = list(callbacks) + standard_callbacks(patience=early_stopping, bar=verbose == 1, lines=verbose > 0)
        trainer = Trainer(self, optimizer=optimizer, loss=loss, schedule=schedule, epochs=epochs,
                          batch_size=batch_size, clip_norm=clip_norm, seed=seed, callbacks=callbacks)
        return trainer.fit(x, y, validation_data=validation_data)

    def evaluate(self, x, y, loss=None, batch_size: int = 1000, verbose: int = 1) -> dict:
        """``{"loss": mean loss, "accuracy": fraction correct}`` on (x, y), checked as in ``fit``, in evaluation
        mode (no dropout; BatchNorm's running statistics). The same figures as the validation ones of ``fit``.

        ``verbose``: 1 (the default) a bar over the batches when there are more than ``BAR_MIN_BATCHES``, and
        the result as one line; 2 the line only; 0 nothing."""
        verbose = check_verbose(verbose)
        x, y = self._check_data(x, y, ("x", "y"))
        result = evaluate(self, x, y, loss=loss, batch_size=batch_size, verbose=verbose)
        if verbose:
            print(f"evaluate  loss {result['loss']:.4f}  accuracy {100 * result['accuracy']:.2f}%  "
                  f"({len(x):,} samples)")
        return result

    def predict_proba(self, x, batch_size: int = 1000, verbose: int = 0) -> np.ndarray:
        """Class probabilities (N, C) as a NumPy array (see ``Network.predict_proba``). ``verbose=1`` shows a bar
        over the batches when there are more than ``BAR_MIN_BATCHES`` (on a terminal or in a notebook); the
        default, 0, shows nothing, because predictions are made in loops and servers where a bar is noise."""
        return super().predict_proba(x, batch_size, batch_bar(check_verbose(verbose), "predict"))

    def predict(self, x, batch_size: int = 1000, verbose: int = 0) -> np.ndarray:
        """Predicted class indices (N,), a single sample included (then (1,)); as ``predict_proba``."""
        return self.predict_proba(x, batch_size, verbose).argmax(axis=1)

    def _check_data(self, x, y, names: tuple[str, str]):
        classes = self.output_shapes[-1][0] if self.output_shapes[-1] else 1
        return check_data(x, y, self.input_shape, classes, self.dtype, names=names)

    def save(self, path: str | Path, *, force: bool = False) -> tuple[Path, Path]:
        """Write ``path.npz`` (every parameter and buffer, e.g. BatchNorm's running statistics) and ``path.json``
        (format, version, name, input shape, dtype, layers, classes, preprocessing, and every parameter's name
        and shape, which loading checks the weights against), each atomically, the weights first so that a
        description always has its weights. Returns the two paths; ``matnet.load(path)`` reads them back.
        A model matnet saved there before is replaced (a notebook cell runs again); any other file of those names
        only with ``force=True`` (see :mod:`matnet.fileio`).
        (Why this lives here and not in matnet.model_file: see the module's docstring.)"""
        npz, meta = model_paths(path)
        for target in (npz, meta):
            named_output(target, force=force, made_by_matnet=lambda _: _is_saved_model(meta))
        arrays = {name: to_numpy(a) for name, a in {**self.parameters.arrays(), **self.buffers()}.items()}
        with atomic_path(npz, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)
        write_json(meta, {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "input_shape": list(self.input_shape),
            "dtype": str(self.dtype),
            "layers": [layer_spec(layer) for layer in self.layers],
            "classes": list(self.classes),
            "preprocessing": self.preprocessing,
            "parameters": {name: list(shape) for name, shape in zip(self.parameters.names, self.parameters.shapes)},
        })
        return npz, meta


def _is_saved_model(meta: Path) -> bool:
    """Whether ``meta`` is the description of a model matnet saved (its JSON names matnet's model format)."""
    try:
        if meta.stat().st_size > 10_000_000:
            return False
        return json.loads(meta.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def verdicts(probabilities: np.ndarray, classes, source: str = "the model") -> list[dict]:
    """Class probabilities (N, C) on the host -> the model's verdict on each row: ``{label, class_index,
    probabilities}``. Non-finite probabilities (a model whose weights hold NaN or inf) are a MatnetError naming
    ``source``, never a NaN in an answer. The one place a model's output becomes an answer: ``matnet predict``,
    the number reader and ``matnet serve`` all use it."""
    probabilities = np.asarray(probabilities)
    if not np.isfinite(probabilities).all():
        raise MatnetError(f"{source}: the model gave non-finite probabilities (NaN or inf in its weights?)")
    answers = []
    for row in probabilities:
        best = int(row.argmax())
        answers.append({"label": str(classes[best]), "class_index": best, "probabilities": [float(p) for p in row]})
    return answers


def ranked(verdict: dict, classes, top: int) -> list[tuple[str, float]]:
    """The ``top`` most likely classes of a verdict, most likely first: ``[(label, probability)]``."""
    probabilities = np.asarray(verdict["probabilities"])
    return [(str(classes[i]), float(probabilities[i])) for i in np.argsort(probabilities)[::-1][:top]]


def build_mlp(sizes: list[int], activation: str = "relu", *, dropout: float = 0.0, init: str | None = None,
              seed: int = 0, max_params: int | None = None, **kwargs) -> Sequential:
    """``sizes = [784, 128, 64, 10]`` -> Dense 784->128, act, [Dropout], Dense 128->64, act, [Dropout], Dense 64->10.

    The last layer gives logits (no activation): SoftmaxCrossEntropy applies the softmax. He initialisation
    for ReLU-like activations, Xavier for tanh and sigmoid, unless ``init`` says otherwise. More parameters
    than the limit (``params_limit(max_params)``) is a MatnetError, before anything is allocated.
    """
    if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
        raise ValueError(f"layer sizes must be two or more positive numbers, got {sizes}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
    check_params(sum((int(n_in) + 1) * int(n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:])),
                 f"layers {','.join(map(str, sizes))}", max_params)
    init = init or ("xavier_normal" if activation in ("tanh", "sigmoid") else "he_normal")
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Dense(n_in, n_out, init=init))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
            if dropout:
                layers.append(Dropout(dropout))
    return Sequential(layers, seed=seed, **kwargs)


def build_cnn(image_shape=(28, 28), num_classes: int = 10, *, filters=(32, 64), dense: int = 128,
              dropout: float = 0.25, seed: int = 0, max_params: int | None = None, **kwargs) -> Sequential:
    """One convolution block per entry of ``filters``, then a dense head; the default, ``filters=(32, 64)``:
    [Conv 3x3 (32) - BatchNorm - MaxPool 2 - ReLU] -> [Conv 3x3 (64) - BatchNorm - MaxPool 2 - ReLU]
    -> Flatten -> Dense 128 - ReLU - Dropout -> Dense (classes). Each block halves the height and width.

    Two choices that change no number but save work: the convolutions have no bias (the BatchNorm after each
    subtracts every channel's mean, so a bias would change nothing: its gradient is exactly zero), and the ReLU
    comes after the pooling, where it has a quarter of the values (``max`` and ``relu`` commute: the largest of
    the rectified values is the rectified largest value, and the gradient reaches the same input). The parameters
    are counted (and held to ``params_limit(max_params)``) before anything is allocated."""
    h, w = image_shape
    if not filters or min(filters) < 1:
        raise ValueError(f"filters must be one or more positive channel counts, got {list(filters)}")
    if min(h, w) < 2 ** len(filters):
        raise ValueError(f"{len(filters)} blocks halve {h}x{w} images to nothing; use at most "
                         f"{int(min(h, w)).bit_length() - 1}")
    count, channels, side = 0, 1, (h, w)
    for out_channels in filters:        # conv 3x3 weights (no bias), BatchNorm's scale and shift
        count += out_channels * channels * 9 + 2 * out_channels
        channels, side = out_channels, (side[0] // 2, side[1] // 2)
    count += (channels * side[0] * side[1] + 1) * dense + (dense + 1) * num_classes
    check_params(count, f"the cnn (filters {','.join(map(str, filters))}, dense {dense})", max_params)
    layers, channels = [], 1
    for out_channels in filters:
        layers += [Conv2D(channels, out_channels, 3, padding=1, bias=False), BatchNorm(out_channels), MaxPool2D(2),
                   ReLU()]
        channels, h, w = out_channels, h // 2, w // 2
    layers += [Flatten(), Dense(channels * h * w, dense), ReLU()]
    if dropout:
        layers.append(Dropout(dropout))
    layers.append(Dense(dense, num_classes))
    return Sequential(layers, input_shape=(1, *image_shape), seed=seed, **kwargs)


def build_resnet(image_shape=(28, 28), num_classes: int = 10, *, dropout: float = 0.0, seed: int = 0,
                 **kwargs) -> Sequential:
    """A small residual network: a stem [Conv 3x3 (32) - BatchNorm - ReLU - MaxPool 2], then two residual blocks
    (the second halves the resolution and doubles the channels, its shortcut a 1x1 projection), then global
    average pooling and a dense layer. Every convolution is followed by BatchNorm, so has no bias (see
    ``build_cnn``)."""
    h, w = image_shape

    def conv(c_in, c_out, stride=1):
        return Conv2D(c_in, c_out, 3, stride=stride, padding=1, bias=False)

    layers = [conv(1, 32), BatchNorm(32), MaxPool2D(2), ReLU(),
              Residual([conv(32, 32), BatchNorm(32), ReLU(), conv(32, 32), BatchNorm(32)]), ReLU(),
              Residual([conv(32, 64, stride=2), BatchNorm(64), ReLU(), conv(64, 64), BatchNorm(64)]), ReLU(),
              GlobalAvgPool()]
    if dropout:
        layers.append(Dropout(dropout))
    layers.append(Dense(64, num_classes))
    return Sequential(layers, input_shape=(1, h, w), seed=seed, **kwargs)


ARCHITECTURES = ("mlp", "cnn", "resnet")
