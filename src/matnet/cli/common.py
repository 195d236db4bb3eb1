"""What several commands share: loading a model or run folder, a run's settings from the command line, and
printing JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click
from click.core import ParameterSource

from matnet.backend import check_environment, use_device
from matnet.config import PRESETS, TrainConfig, load_config
from matnet.fileio import free_path
from matnet.runfolder import RunFolder, load_model
from matnet.terminal import shown

__all__ = ["MODEL_ARG", "DEVICE_OPTION", "open_model", "given_options", "new_config", "echo_json", "echo", "finite"]

MODEL_ARG = click.argument("model", metavar="MODEL_OR_RUN", type=click.Path())


def _choose_device(ctx, param, value):
    if value is None:
        check_environment()       # a MATNET_BACKEND that cannot be used: one line, exit 2 (--device overrides it)
        return None
    return use_device(value)


# Every command that runs a model takes it; it is chosen while the command line is read, before any array is made.
DEVICE_OPTION = click.option(
    "--device", type=click.Choice(["cpu", "cuda", "strict"]), default=None, callback=_choose_device,
    expose_value=False, is_eager=True,
    help="Where the math runs: cpu (NumPy, the default), cuda (an NVIDIA GPU, through CuPy), or strict (NumPy "
         "behind a GPU's rules, for tests). The environment form is MATNET_BACKEND=numpy|cupy|strict.")


def open_model(path: str):
    """A model file (``x.npz``/``x.json``/``x``) or a run folder (its final model)."""
    return load_model(Path(path))


def given_options(ctx: click.Context, options: dict) -> dict:
    """The options typed on the command line (not the defaults): they override the preset and the config file."""
    return {key: value for key, value in options.items()
            if ctx.get_parameter_source(key) is ParameterSource.COMMANDLINE and value is not None}


def new_config(config_file, preset, given: dict) -> TrainConfig:
    """The settings of a new run (``train``, ``lr-find``): preset, then config file, then flags. The run folder is
    ``--out``, or the file's ``out``, or else a free name; a config file saved in a run folder names that run, and
    repeating it must not write into it."""
    values = load_config(config_file) if config_file else {}
    in_a_run = config_file is not None and RunFolder(Path(config_file).parent).config_file == Path(config_file) \
        and RunFolder(Path(config_file).parent).is_run()
    settings = {**PRESETS.get(preset or "mlp", {}), **values, **given}
    config = TrainConfig.from_dict(settings, config_file or "settings")
    if "out" not in given and ("out" not in values or in_a_run):
        out = Path(config.out)
        config.out = str(free_path(out.parent, out.name))     # a folder: no extension kept after the number
    return config


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
