"""``report.html``: one self-contained page per run (images embedded, no network access), from a Jinja2 template."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np
from tqdm import tqdm

from matnet import __version__
from matnet.backend import to_numpy
from matnet.data.prepare import model_inputs
from matnet.nn.conv import Conv2D
from matnet.nn.dense import Dense
from matnet.reports import figures as F
from matnet.runfolder import RunData, read_run
from matnet.terminal import shown
from matnet.train.diagnose import diagnose_run
from matnet.train.metrics import confusion_matrix, per_class

__all__ = ["Report", "draw_figures", "fill_predictions", "write_report", "render"]

_env = jinja2.Environment(loader=jinja2.PackageLoader("matnet.reports", "templates"),
                          autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)


@dataclass
class Report:
    """What ``write_report`` made: the page, the figures drawn into the run folder, and what was missing."""

    path: Path
    figures: list[Path]
    missing: list[str]


def _confusion(run: RunData) -> np.ndarray | None:
    if run.probabilities is None:
        return None
    return confusion_matrix(run.labels, run.probabilities.argmax(axis=1), run.probabilities.shape[1])


def _plans(run: RunData, matrix: np.ndarray | None):
    """(name, title, caption, draw) for each figure the run's files allow; a line for each that they do not."""
    plans, skipped = [], []
    has_predictions = matrix is not None
    images = run.test_images() if has_predictions else None
    if run.metrics:
        plans.append(("curves", "Learning curves", "Loss (log scale) and accuracy per epoch, training and "
                      "validation; the faint line is every batch's loss, the solid one its moving average.",
                      lambda p: F.curves(run.metrics, run.steps, p)))
    if run.steps and run.steps.get("lr"):
        plans.append(("lr", "Learning rate", "The learning rate at every step, as the schedule set it.",
                      lambda p: F.learning_rate(run.steps, p)))
    if has_predictions:
        plans.append(("confusion", "Confusion matrix", "Test images by true class (rows) and predicted class "
                      "(columns); the diagonal holds the correct ones.",
                      lambda p: F.confusion(matrix, run.classes, p)))
        plans.append(("per_class", "Per-class scores", "Precision (how often a prediction of the class is right), "
                      "recall (how many of the class are found) and their harmonic mean F1.",
                      lambda p: F.per_class_bars(per_class(matrix), run.classes, p)))
    first = run.model.layers[0] if run.model is not None else None
    shape = tuple(run.model.preprocessing.get("image_shape", ())) if run.model is not None else ()
    if isinstance(first, Dense) and shape and int(np.prod(shape)) == first.in_features:
        plans.append(("weights", "What the first layer looks for", "Each neuron's incoming weights drawn as an "
                      "image: red pixels excite it, blue ones inhibit it.",
                      lambda p: F.first_layer(to_numpy(first.params["W"]), shape, p)))
    elif isinstance(first, Conv2D) and first.in_channels == 1:
        k = first.kernel_size
        plans.append(("weights", "What the first layer looks for", f"Each first-layer filter ({k}x{k}) drawn as an "
                      "image: red weights excite, blue ones inhibit.",
                      lambda p: F.first_layer(to_numpy(first.params["W"]).reshape(first.out_channels, k * k), (k, k),
                                              p)))
    if images is not None:
        plans.append(("predictions", "Predictions", "The first test images with the predicted class and its "
                      "probability (red: wrong).",
                      lambda p: F.gallery(images, run.probabilities, run.labels, run.classes, p)))
        if (run.probabilities.argmax(axis=1) != run.labels).any():
            plans.append(("mistakes", "Most confident mistakes", "The wrong predictions made with the highest "
                          "probability, with the three most likely classes.",
                          lambda p: F.mistakes(images, run.probabilities, run.labels, run.classes, p)))
        else:
            skipped.append("the gallery of mistakes (every test image was classified correctly)")
    elif has_predictions:
        skipped.append(f"the image galleries (the {run.dataset_name} test images are not cached)")
    if run.layer_stats and run.layer_stats.get("steps"):
        per_epoch = run.steps.get("steps_per_epoch") if run.steps else None
        plans.append(("layers", "Layer health", "Norms of each weight matrix and of its gradient, the size of one "
                      "update relative to the weights (dashed: 1e-3), and ReLU units that never fire.",
                      lambda p: F.layer_health(run.layer_stats, per_epoch, p)))
    return plans, skipped


def draw_figures(run: RunData, matrix: np.ndarray | None = None, *,
                 progress: bool = True) -> tuple[list[F.Figure], list[str]]:
    """Draw every figure the run allows into ``RUN/figures/``; returns them and what could not be drawn."""
    plans, skipped = _plans(run, matrix if matrix is not None else _confusion(run))
    drawn = []
    for name, title, caption, draw in tqdm(plans, desc="figures", unit="figure", disable=not progress or None,
                                           leave=False):
        path = run.folder.figure(name)     # the folder, or a file where it should be: an error, not a skip
        try:
            drawn.append(F.Figure(name, title, caption, draw(path)))
        except Exception as err:  # one broken figure must not cost the report (or the end of a long run)
            skipped.append(f"the figure '{title}' (drawing it failed: {type(err).__name__}: {err})")
    return drawn, skipped


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render(run: RunData, drawn: list[F.Figure], skipped: list[str], matrix: np.ndarray | None = None) -> str:
    table = None
    matrix = matrix if matrix is not None else _confusion(run)
    if matrix is not None:
        scores = per_class(matrix)
        table = [{"name": name, "precision": scores["precision"][i], "recall": scores["recall"][i],
                  "f1": scores["f1"][i], "support": int(scores["support"][i])} for i, name in enumerate(run.classes)]
    return _env.get_template("report.html.j2").render(
        run=run, summary=run.summary or {}, config=run.config or {}, figures=drawn, table=table,
        missing=run.missing + skipped, uri=_data_uri, version=__version__, health=diagnose_run(run),
        diagnosed=run.diagnosis is not None,
        parameters=run.model.num_params if run.model is not None else None)


def fill_predictions(run: RunData, *, progress: bool = True) -> None:
    """Test predictions a run folder lacks (a model copied in by hand, a run stopped before its end) computed from
    its final model and the cached dataset, and written into the folder; without the model or the dataset they
    stay in ``run.missing``, saying so."""
    if run.probabilities is not None:
        return
    run.missing = [what for what in run.missing if not what.startswith("the test predictions")]
    data = run.dataset()
    if run.model is None or data is None:
        run.missing.append("the test predictions (no final model, or its dataset is not cached)")
        return
    if progress:
        print(shown(f"evaluating {run.name} on the {run.dataset_name} test set"), flush=True)
    model = run.model
    run.probabilities = model.predict_proba(model_inputs(data.test_images, model.input_shape, model.dtype))
    run.labels = data.test_labels.astype(np.int64)
    run.folder.write_predictions(run.probabilities, run.labels)


def write_report(folder: str | Path, *, progress: bool = True) -> Report:
    """Draw the figures and write ``RUN/report.html``; a run with missing pieces gets what there is."""
    run = read_run(folder)
    fill_predictions(run, progress=progress)
    matrix = _confusion(run)
    drawn, skipped = draw_figures(run, matrix, progress=progress)
    path = run.folder.write_report(render(run, drawn, skipped, matrix))
    return Report(path, [figure.path for figure in drawn], run.missing + skipped)
