"""The one place a model's output becomes an answer: ``matnet predict``, the number reader and ``matnet serve`` all
turn class probabilities into verdicts here."""

from __future__ import annotations

import numpy as np

from matnet.errors import MatnetError

__all__ = ["verdicts", "ranked"]


def verdicts(probabilities: np.ndarray, classes, source: str = "the model") -> list[dict]:
    """Class probabilities (N, C) on the host -> the model's verdict on each row: ``{label, class_index,
    probabilities}``. Non-finite probabilities (a model whose weights hold NaN or inf) are a MatnetError naming
    ``source``, never a NaN in an answer."""
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
