"""How well a model classifies: accuracy and mean loss on a dataset, the confusion matrix, and per-class
precision, recall and F1."""

from __future__ import annotations

import numpy as np

from matnet.backend import to_device, to_floats, to_host
from matnet.nn.inputs import check_verbose
from matnet.nn.losses import model_loss
from matnet.train.callbacks import batch_bar

__all__ = ["accuracy", "correct_count", "evaluate", "confusion_matrix", "per_class"]


def accuracy(logits, y) -> float:
    """Fraction of rows whose largest output is the true class (y: labels (N,) or one-hot rows (N, C)); a float,
    read from the device."""
    return to_host(correct_count(logits, y)) / len(logits)


def correct_count(logits, y) -> int:
    """How many rows' largest output is the true class (y: labels (N,) or one-hot rows (N, C)): an integer
    scalar on the device, so that counting makes no transfer (the trainer reads its totals when it logs)."""
    truth = y if y.ndim == 1 else y.argmax(axis=1)
    return (logits.argmax(axis=1) == truth).sum()


def evaluate(model, x, y, *, loss=None, batch_size: int = 1000, verbose: int = 0) -> dict:
    """Mean loss and accuracy of ``model`` on (x, y), in batches, without dropout: ``{"loss", "accuracy"}``
    (``verbose=1``: a bar over many batches, see ``batch_bar``). The sums stay on the device; they
    are read once, at the end (one transfer)."""
    verbose = check_verbose(verbose)
    loss = loss or model_loss(model)
    x, y = to_device(x), to_device(y)      # no copy when they are on the device already
    total_loss, correct, n = 0.0, 0, len(x)
    if n == 0:
        raise ValueError("cannot evaluate on an empty set")
    start = 0
    for logits in model.forward_batches(x, batch_size=batch_size, progress=batch_bar(verbose, "evaluate")):
        yb = y[start:start + len(logits)]
        total_loss = total_loss + loss.forward(logits, yb).astype(np.float64) * len(yb)
        correct = correct + correct_count(logits, yb)
        start += len(logits)
    total_loss, correct = to_floats((total_loss, correct))
    return {"loss": total_loss / n, "accuracy": int(correct) / n}


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """``C[i, j]`` = how many samples of true class i were predicted as j (rows sum to the class counts)."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def per_class(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """precision_j = C[j, j] / column j;  recall_i = C[i, i] / row i;  F1 = 2 P R / (P + R)  (0 where undefined)."""
    confusion = np.asarray(confusion, dtype=np.float64)
    hits = np.diag(confusion)
    predicted, actual = confusion.sum(axis=0), confusion.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(hits), where=both > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual.astype(np.int64)}
