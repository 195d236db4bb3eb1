"""What several commands share: loading a model or run folder, and printing JSON."""

from __future__ import annotations

import json
from pathlib import Path

import click

from matnet.runfolder import load_model

__all__ = ["MODEL_ARG", "open_model", "echo_json"]

MODEL_ARG = click.argument("model", metavar="MODEL_OR_RUN", type=click.Path())


def open_model(path: str):
    """A model file (``x.npz``/``x.json``/``x``) or a run folder (its final model)."""
    return load_model(Path(path))


def echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2))
