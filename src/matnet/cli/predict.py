"""``matnet predict``: classify image files of any size and either polarity, preprocessed as MNIST was."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from matnet.cli.common import MODEL_ARG, echo_json, open_model
from matnet.data.images import FIELD, load_digit, save_gray
from matnet.errors import MatnetError


@click.command()
@MODEL_ARG
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option("--top", default=3, show_default=True, type=click.IntRange(min=1), help="Classes to show per image.")
@click.option("--show-input", type=click.Path(file_okay=False), metavar="DIR",
              help="Save the 28x28 image the model saw for each file into DIR.")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of {file, label, probabilities}.")
def predict(model, images, top, show_input, as_json):
    """Classify IMAGES (PNG, JPEG, PGM, ...) with MODEL_OR_RUN.

    Each image is made MNIST-like: grayscale, polarity detected (dark on light is inverted), the digit's bounding
    box fitted into 20x20 keeping its aspect ratio, and centred by its centre of mass in 28x28.
    """
    net = open_model(model)
    if int(np.prod(net.input_shape)) != FIELD * FIELD:
        raise MatnetError(f"{model} takes inputs of shape {net.input_shape}; predict makes {FIELD}x{FIELD} images")
    results, failures = [], []
    for path in images:
        try:
            digit = load_digit(path)
        except MatnetError as err:
            failures.append(str(err))
            click.echo(f"matnet: error: {err}", err=True)
            continue
        if show_input:
            Path(show_input).mkdir(parents=True, exist_ok=True)
            save_gray(digit, Path(show_input) / f"{Path(path).stem}.png")
        probabilities = net.predict_proba(digit.reshape(1, *net.input_shape))[0]
        best = int(probabilities.argmax())
        results.append({"file": str(path), "label": net.classes[best], "class_index": best,
                        "probabilities": [float(p) for p in probabilities]})
        if not as_json:
            ranked = np.argsort(probabilities)[::-1][:top]
            shown = "   ".join(f"{net.classes[i]} ({100 * probabilities[i]:.1f}%)" for i in ranked)
            click.echo(f"{path}: {shown}")
    if as_json:
        echo_json(results)
    if failures:
        raise click.exceptions.Exit(1)
