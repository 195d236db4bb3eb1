"""What several commands share: loading a model or run folder, and printing JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from matnet.runfolder import load_model

__all__ = ["MODEL_ARG", "open_model", "echo_json", "finite"]

MODEL_ARG = click.argument("model", metavar="MODEL_OR_RUN", type=click.Path())


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
