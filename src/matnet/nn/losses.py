"""Losses: a scalar from predictions and targets, and its gradient with respect to the predictions.

Targets ``y`` are class indices (N,) or rows of probabilities (N, C) (one-hot, or smoothed labels).
``forward(pred, y) -> L`` stores what ``backward() -> dpred`` needs. ``L`` is a scalar on the device (a 0-d array;
a NumPy scalar on the CPU): training reads it back only when it logs (``matnet.backend.to_host``).

A network is trained under one loss, by name (``LOSSES``), and its output layer must suit it (``check_output``):
cross-entropy takes logits (it applies the softmax itself), so its output is ``softmax``; MSE compares the
network's outputs with one-hot rows after a ``softmax``, a ``sigmoid`` or no (``linear``) final activation.
"""

from __future__ import annotations

from matnet.backend import xp

__all__ = ["SoftmaxCrossEntropy", "MeanSquaredError", "one_hot", "LOSSES", "OUTPUTS", "make_loss", "model_loss",
           "check_output"]


def one_hot(y, num_classes: int, dtype="float32"):
    """Class indices (N,) -> rows (N, C) with a single 1 at each index."""
    out = xp.zeros((len(y), num_classes), dtype=dtype)
    out[xp.arange(len(y)), y] = 1
    return out


def _is_labels(y) -> bool:
    return y.ndim == 1


class SoftmaxCrossEntropy:
    """Cross-entropy of the softmax of logits, fused: ``L = -(1/N) sum_n sum_i q_ni log softmax(z_n)_i`` with the
    target rows ``q`` (one-hot rows for labels): ``-(1/N) sum_n log softmax(z_n)[y_n]``.

    With ``s = z - max(z)`` per row, ``log softmax(z)_i = s_i - log sum_j exp(s_j)``: no exp overflows and no log
    of a rounded-off zero. Fusing softmax into the loss makes the gradient simply ``dL/dz = (p - q) / N``.

    ``label_smoothing`` e moves each target row part of the way to uniform, ``q = (1 - e) y + e / C``: the network
    is no longer pushed to make one logit infinitely larger than the others. For labels, without building the rows:
    ``L = mean(lse - (1 - e) s_y - (e / C) sum_i s_i)`` with ``lse = log sum_j exp(s_j)``.

    forward:   z: (N, C) logits,  y: (N,) labels or (N, C) target rows  ->  L: a device scalar
    backward:  ->  dz: (N, C)
    """

    def __init__(self, label_smoothing: float = 0.0):
        if not 0.0 <= float(label_smoothing) < 1.0:     # NaN fails this too
            raise ValueError(f"label smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)
        self._cache = None

    def forward(self, logits, y):
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = xp.exp(shifted)
        sums = exp.sum(axis=1)
        n, c = logits.shape
        e = self.label_smoothing
        if _is_labels(y):
            picked = shifted[xp.arange(n), y]
            if e:
                picked = (1.0 - e) * picked + (e / c) * shifted.sum(axis=1)
            loss = (xp.log(sums) - picked).mean()
        else:
            if e:
                y = (1.0 - e) * y + e / c
            loss = -(y * (shifted - xp.log(sums)[:, None])).sum() / n
        exp /= sums[:, None]  # now the probabilities p
        self._cache = (exp, y)
        return loss

    def backward(self):
        if self._cache is None:
            raise RuntimeError("SoftmaxCrossEntropy: backward() called before forward()")
        probs, y = self._cache
        n, c = probs.shape
        e = self.label_smoothing
        dz = probs * (1.0 / n)  # a new array: the cached probabilities stay as they are
        if _is_labels(y):
            if e:
                dz -= e / (c * n)
            dz[xp.arange(n), y] -= (1.0 - e) / n
        else:
            dz -= y * (1.0 / n)   # the rows were smoothed in forward
        return dz


class MeanSquaredError:
    """``L = mean((pred - y)^2)`` over all N*C entries (PyTorch's MSELoss); ``dL/dpred = 2 (pred - y) / (N C)``.

    Nielsen's quadratic cost is ``C = 1/(2n) sum_x ||y(x) - a(x)||^2`` and his step ``eta / m`` times the batch's
    summed gradient, i.e. ``eta`` times ``(a - y) / m`` per batch of m; here the step is ``lr`` times
    ``2 (a - y) / (m C)``, so ``lr = eta C / 2``: with C = 10 classes, ``lr 15`` is the book's ``eta 3.0``.

    forward:   pred: (N, C),  y: (N,) labels (one-hot encoded here) or (N, C) targets  ->  L: a device scalar
    backward:  ->  dpred: (N, C)
    """

    def __init__(self):
        self._cache = None

    def forward(self, pred, y):
        if _is_labels(y):
            y = one_hot(y, pred.shape[1], dtype=pred.dtype)
        diff = pred - y
        self._cache = diff
        return (diff * diff).mean()

    def backward(self):
        if self._cache is None:
            raise RuntimeError("MeanSquaredError: backward() called before forward()")
        diff = self._cache
        return diff * (2.0 / diff.size)



LOSSES = {"cross-entropy": SoftmaxCrossEntropy, "mse": MeanSquaredError}
OUTPUTS = ("softmax", "sigmoid", "linear")      # the output layer's activation (for cross-entropy: the loss's)


def make_loss(name: str, label_smoothing: float = 0.0):
    """A new loss named in ``LOSSES``; another name is a ValueError listing them. ``label_smoothing`` is
    cross-entropy's (``SoftmaxCrossEntropy``)."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    if name == "cross-entropy":
        return SoftmaxCrossEntropy(label_smoothing)
    if label_smoothing:
        raise ValueError(f"label smoothing is for the cross-entropy loss, not {name}")
    return LOSSES[name]()


def model_loss(model):
    """A new loss of the kind ``model`` is trained under (its ``loss`` name; cross-entropy for a model without)."""
    return make_loss(getattr(model, "loss", "cross-entropy"))


def check_output(output: str, loss: str) -> None:
    """A ValueError unless ``output`` is one of ``OUTPUTS`` and suits ``loss`` (see the module docstring)."""
    make_loss(loss)
    if output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r}; choose one of {', '.join(OUTPUTS)}")
    if loss == "cross-entropy" and output != "softmax":
        raise ValueError(f"output {output} with loss cross-entropy: cross-entropy takes logits and applies the "
                         f"softmax itself, so its output is softmax; use loss mse for a {output} output")
