"""What several commands share: loading a model or run folder, and printing JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from matnet.backend import use_device
from matnet.runfolder import load_model
from matnet.terminal import shown

__all__ = ["MODEL_ARG", "DEVICE_OPTION", "open_model", "echo_json", "echo", "finite"]

MODEL_ARG = click.argument("model", metavar="MODEL_OR_RUN", type=click.Path())


def _choose_device(ctx, param, value):
    return use_device(value) if value is not None else None


# Every command that runs a model takes it; it is chosen while the command line is read, before any array is made.
DEVICE_OPTION = click.option(
    "--device", type=click.Choice(["cpu", "cuda", "strict"]), default=None, callback=_choose_device,
    expose_value=False, is_eager=True,
    help="Where the math runs: cpu (NumPy, the default), cuda (an NVIDIA GPU, through CuPy), or strict (NumPy "
         "behind a GPU's rules, for tests). The environment form is MATNET_BACKEND=numpy|cupy|strict.")


def open_model(path: str):
    """A model file (``x.npz``/``x.json``/``x``) or a run folder (its final model)."""
    return load_model(Path(path))


def finite(obj):
    """``obj`` with every NaN or infinite float replaced by None: JSON has no NaN, and scripts must parse it."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: finite(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(value) for value in obj]
    return obj


def echo_json(obj) -> None:
    click.echo(json.dumps(finite(obj), indent=2, allow_nan=False))


def echo(line="", *, lines: bool = False, **options) -> None:
    """``click.echo`` of one ``line``, ``shown`` (matnet.terminal): a control character or a bidi control that
    came from a file is written out, never obeyed, and a name's line break cannot start a line of its own.
    ``lines=True``: ``line`` is several lines, each ``shown``; the names in them must be shown already (the
    table of ``Network.summary_text``, the legend of ``format_confusion``)."""
    parts = str(line).split("\n") if lines else [str(line)]
    click.echo("\n".join(shown(part) for part in parts), **options)
