"""The user's model: a :class:`matnet.nn.Network` with Keras-style ``fit``, ``evaluate`` and ``save``.

    model = Sequential([Dense(784, 128), ReLU(), Dense(128, 64), ReLU(), Dense(64, 10)])
    history = model.fit(x_train, y_train, epochs=10, optimizer=Adam(1e-3), validation_data=(x_val, y_val))
    model.evaluate(x_test, y_test)      # {"loss": ..., "accuracy": ...}
    model.predict(x_test[:5])           # class indices; predict_proba gives the probabilities
    model.save("digits")                # digits.npz + digits.json; matnet.load("digits") reads them back

The math lives in ``matnet.nn``; this class only adds the training loop on top, so ``nn`` never imports it.
What ``fit``, ``evaluate`` and ``predict`` accept (and refuse) is checked once, in :mod:`matnet.nn.inputs`.
Next to it: the builders of the four architectures (:mod:`matnet.architectures`), the model file's writer
(:mod:`matnet.model_format`) and reader (:mod:`matnet.model_file`), the limit on a model's size
(:mod:`matnet.nn.sizing`), and the verdicts made of its probabilities (:mod:`matnet.verdicts`).

The flags mean the same everywhere, and are keyword-only: ``batch_size`` the samples one forward pass takes,
``verbose`` what is printed (0 nothing, 1 a bar and a line, 2 the line only, as in Keras). The engine underneath
(``Network``) prints nothing; its ``forward_batches`` takes ``progress``, a wrapper of its batches that
``verbose`` is turned into here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from matnet.model_format import write_model
from matnet.nn.inputs import check_data, check_verbose
from matnet.nn.network import Network
from matnet.train.callbacks import batch_bar, standard_callbacks
from matnet.train.metrics import evaluate
from matnet.train.trainer import History, Trainer

__all__ = ["Sequential"]


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

    def evaluate(self, x, y, *, loss=None, batch_size: int = 1000, verbose: int = 1) -> dict:
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

    def predict_proba(self, x, *, batch_size: int = 1000, verbose: int = 0) -> np.ndarray:
        """Class probabilities (N, C) as a NumPy array (see ``Network.predict_proba``). ``verbose=1`` shows a bar
        over the batches when there are more than ``BAR_MIN_BATCHES`` (on a terminal or in a notebook); the
        default, 0, shows nothing, because predictions are made in loops and servers where a bar is noise."""
        return self._predict_proba(x, batch_size, batch_bar(check_verbose(verbose), "predict"))

    def predict(self, x, *, batch_size: int = 1000, verbose: int = 0) -> np.ndarray:
        """Predicted class indices (N,), a single sample included (then (1,)); as ``predict_proba``."""
        return self.predict_proba(x, batch_size=batch_size, verbose=verbose).argmax(axis=1)

    def _check_data(self, x, y, names: tuple[str, str]):
        classes = self.output_shapes[-1][0] if self.output_shapes[-1] else 1
        return check_data(x, y, self.input_shape, classes, self.dtype, names=names)

    def save(self, path: str | Path, *, force: bool = False) -> tuple[Path, Path]:
        """Write ``path.npz`` (every parameter and buffer, e.g. BatchNorm's running statistics) and ``path.json``
        (format, version, name, input shape, dtype, layers, classes, preprocessing, and every parameter's name
        and shape, which loading checks the weights against), each atomically, the weights first so that a
        description always has its weights. Returns the two paths; ``matnet.load(path)`` reads them back.
        A model matnet saved there before is replaced (a notebook cell runs again); any other file of those names
        only with ``force=True`` (see :mod:`matnet.fileio`). The writer is :func:`matnet.model_format.write_model`."""
        return write_model(self, path, force=force)
