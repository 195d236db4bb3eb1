"""``matnet predict``: classify image files of any size and either polarity, preprocessed as MNIST was.

One bad file among many fails alone: the others are still predicted, the failure is one ``matnet: error:`` line
on stderr (and a ``{"file", "error"}`` entry with ``--json``), and the exit code is 1.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from matnet.cli.common import DEVICE_OPTION, MODEL_ARG, echo, echo_json, open_model
from matnet.data.images import (FIELD, marks_warning, read_gray, read_number, save_gray, to_mnist_counted,
                                unsure_digit_warning, unsure_warning)
from matnet.data.images.number import UNSURE
from matnet.errors import MatnetError
from matnet.nn.activations import Sigmoid
from matnet.verdicts import ranked, verdicts
from matnet.fileio import first_free

__all__ = ["predict", "classify", "save_unique"]


def classify(net, fields: list[np.ndarray], source: str) -> list[dict]:
    """The model's verdict on 28x28 fields (``matnet.verdicts.verdicts``): per field {label, class_index,
    probabilities}."""
    return verdicts(net.predict_proba(np.stack(fields).reshape(len(fields), *net.input_shape)), net.classes, source)


def save_unique(field: np.ndarray, folder: Path, stem: str) -> Path:
    """Save ``field`` as ``folder/stem.png``, or ``stem-2.png``, ``stem-3.png``, ... : the first name not taken.
    The file is created exclusively as its name is tried, so no existing file (an input image, an earlier output)
    is ever replaced."""
    def taken(name: str) -> bool:
        try:
            with open(folder / name, "xb") as file:
                save_gray(field, file)
        except FileExistsError:
            return True
        return False

    return folder / first_free(stem, taken, ".png")


def _shown(ranked: list[tuple[str, float]]) -> str:
    return "   ".join(f"{label} ({100 * p:.1f}%)" for label, p in ranked)


def _one_image(net, path: str, top: int, multi: bool, show_input: Path | None) -> tuple[dict, str]:
    """One file's JSON entry and text line (raises MatnetError for a file that cannot be read or has no digit)."""
    gray = read_gray(path)
    stem = Path(path).stem
    if multi:                     # the number reader scores each field once; its probabilities become verdicts
        read = read_number(gray, net.predict_proba, path)
        answers = verdicts(np.stack([probabilities for _, _, probabilities in read]), net.classes, path)
        digits = [{"box": box, **answer} for (box, _, _), answer in zip(read, answers)]
        for k, (digit, (_, field, _)) in enumerate(zip(digits, read), start=1):
            if show_input:
                digit["input_image"] = str(save_unique(field, show_input, f"{stem}.digit{k}"))
        number = "".join(d["label"] for d in digits)
        line = f"{path}: {number}   " + "  ".join(
            f"{d['label']} ({100 * max(d['probabilities']):.1f}%)" for d in digits)
        entry = {"file": path, "number": number, "digits": digits}
        if warning := unsure_warning([max(d["probabilities"]) for d in digits]):
            entry["warning"] = warning
            echo(f"matnet: warning: {path}: {warning}", err=True)
        return entry, line
    field, marks = to_mnist_counted(gray, path)
    entry = {"file": path, **classify(net, [field], path)[0]}
    if warning := marks_warning(marks):
        entry["warning"] = f"{warning}: use --multi to read it as a number"
    elif warning := unsure_digit_warning(max(entry["probabilities"])):
        entry["warning"] = warning
    if "warning" in entry:
        echo(f"matnet: warning: {path}: {entry['warning']}", err=True)
    if show_input:
        entry["input_image"] = str(save_unique(field, show_input, stem))
    return entry, f"{path}: {_shown(ranked(entry, net.classes, top))}"


@click.command()
@DEVICE_OPTION
@MODEL_ARG
@click.argument("images", nargs=-1, required=True, type=click.Path())
@click.option("--top", default=3, show_default=True, type=click.IntRange(min=1), help="Classes to show per image.")
@click.option("--multi", is_flag=True, help="Each image is a number: read its digits left to right.")
@click.option("--show-input", type=click.Path(file_okay=False), metavar="DIR",
              help="Save the 28x28 image the model saw for each file into DIR as NAME.png (NAME-2.png, ... when "
                   "taken: no existing file is replaced).")
@click.option("--json", "as_json", is_flag=True,
              help="A JSON list: {file, label, class_index, probabilities} per image (and a warning when it holds "
                   f"several digits or is read with under {100 * UNSURE:.0f}% confidence); {{file, number, digits}} "
                   "with --multi, each digit with its box (and a warning when a digit is read with under "
                   f"{100 * UNSURE:.0f}% confidence); {{file, error}} for a file that failed.")
def predict(model, images, top, multi, show_input, as_json):
    """Classify IMAGES (PNG, JPEG, PGM, ...) with MODEL_OR_RUN.

    Each image is made MNIST-like: grayscale; the paper's brightness (shadows included) flattened and the
    polarity detected; the ink found by a threshold chosen from the image, specks and marks away from the digit
    dropped; strokes far thinner or thicker than MNIST's brought to its width; the digit's bounding box fitted
    into 20x20 keeping its aspect ratio, and centred by its centre of mass in 28x28. With --multi the ink is cut
    into digits (touching ones where the ink is thinnest) and each is read; without it, an image that holds
    several digit-sized marks is read as one digit with a warning to use --multi.
    """
    net = open_model(model)
    if int(np.prod(net.input_shape)) != FIELD * FIELD:
        raise MatnetError(f"{model} takes inputs of shape {net.input_shape}; predict makes {FIELD}x{FIELD} images")
    folder = None
    if show_input:
        folder = Path(show_input)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise MatnetError(f"--show-input {show_input}: cannot create the folder ({err.strerror})") from None
    if net.outputs_scores and not as_json:    # what the percentages are (Network.probabilities), said once
        output = "sigmoid" if isinstance(net.layers[-1], Sigmoid) else "linear"
        echo(f"note: {model} was trained under mse with a {output} output: each percentage is a class's score "
             f"divided by the sum of the scores (at least 0), not a softmax", err=True)
    results, failed = [], 0
    for path in images:
        try:
            entry, line = _one_image(net, path, top, multi, folder)
        except MatnetError as err:
            failed += 1
            results.append({"file": str(path), "error": str(err)})
            echo(f"matnet: error: {err}", err=True)
            continue
        except OSError as err:       # writing the --show-input image failed (disk full, permissions)
            failed += 1
            message = f"{path}: cannot save the input image ({err.strerror or err})"
            results.append({"file": str(path), "error": message})
            echo(f"matnet: error: {message}", err=True)
            continue
        except Exception as err:  # noqa: BLE001 - a page the preprocessing cannot handle fails alone, named
            failed += 1
            message = f"{path}: cannot read a digit (an internal error, please report it: {type(err).__name__}: {err})"
            results.append({"file": str(path), "error": message})
            echo(f"matnet: error: {message}", err=True)
            continue
        results.append(entry)
        if not as_json:
            echo(line)
    if as_json:
        echo_json(results)
    if failed:
        raise click.exceptions.Exit(1)
