"""``matnet evaluate``: accuracy, loss and the confusion matrix of a model on a dataset's test set."""

from __future__ import annotations

import click
import numpy as np

from matnet.terminal import shown
from matnet.cli.common import DEVICE_OPTION, MODEL_ARG, echo, echo_json, open_model
from matnet.data.datasets import load_dataset
from matnet.data.prepare import model_inputs
from matnet.errors import MatnetError
from matnet.train.metrics import confusion_matrix, per_class
from matnet.train.metrics import evaluate as evaluate_model


def format_confusion(confusion: np.ndarray, classes) -> str:
    """Rows: true class; columns: predicted class; class indices as labels, names in a legend."""
    k = len(confusion)
    width = max(5, len(str(confusion.max())) + 1)
    lines = ["confusion matrix (rows: true class, columns: predicted class)",
             "true\\pred" + "".join(f"{j:>{width}}" for j in range(k))]
    lines += [f"{i:>9}" + "".join(f"{v:>{width}}" for v in row) for i, row in enumerate(confusion)]
    if list(classes) != [str(i) for i in range(k)]:
        lines.append("classes: " + ", ".join(f"{i} {shown(name)}" for i, name in enumerate(classes)))
    return "\n".join(lines)


@click.command()
@DEVICE_OPTION
@MODEL_ARG
@click.option("--dataset", help="Dataset to test on (default: the one the model was trained on).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def evaluate(model, dataset, as_json):
    """Test accuracy, loss and confusion matrix of MODEL_OR_RUN (a model file or a run folder)."""
    net = open_model(model)
    name = dataset or net.preprocessing.get("dataset", "mnist")
    data = load_dataset(name, progress=not as_json)
    try:
        x = model_inputs(data.test_images, net.input_shape, net.dtype)
    except ValueError as err:
        raise MatnetError(f"{model}: {err} ({name})") from None
    y = data.test_labels.astype(np.int64)
    result = evaluate_model(net, x, y)
    confusion = confusion_matrix(y, net.predict(x), len(net.classes))
    if as_json:
        scores = per_class(confusion)
        echo_json({"dataset": name, "samples": len(y), "accuracy": result["accuracy"], "loss": result["loss"],
                   "confusion": confusion.tolist(), "classes": list(net.classes),
                   **{key: scores[key].tolist() for key in ("precision", "recall", "f1")}})
        return
    echo(f"{name} test set, {len(y):,} images: accuracy {100 * result['accuracy']:.2f}%  "
               f"loss {result['loss']:.4f}")
    echo(format_confusion(confusion, net.classes), lines=True)
