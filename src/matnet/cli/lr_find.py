"""``matnet lr-find``: the learning-rate range test on the network ``matnet train`` would build, and its suggestion.

Takes the train command's settings (the same flags, ``--config`` and ``--preset``; they are ``train``'s own option
objects, so the two cannot drift apart). Nothing of a run folder is read or written; the model and the optimizer
state of the test are thrown away. ``--apply FILE.toml``: a new file gets the whole resolved configuration with
the suggested ``lr`` (``out`` left out, so each run gets a fresh folder); an existing file is refused unless
``--force``, and then only its ``lr`` key changes (its other keys are kept; TOML comments are not).
"""

from __future__ import annotations

from pathlib import Path

import click
import tomli_w

from matnet.cli.common import echo, echo_json, given_options, new_config
from matnet.cli.train import train
from matnet.config import TrainConfig, config_toml
from matnet.errors import MatnetError
from matnet.config_file import parse_toml, read_toml
from matnet.fileio import default_output, named_output, unreserve, write_text
from matnet.optim.optimizers import make_optimizer
from matnet.run import prepare_run
from matnet.train.lr_find import lr_find as range_test
from matnet.train.lr_find import plot_lr_find

_NOT_SHARED = {"resume", "out", "force", "as_json", "epochs", "patience", "schedule", "warmup", "lr"}


def _apply(path: Path, config, lr: float, force: bool) -> str:
    """Write ``lr`` into the config file ``path`` (see the module docstring): checked as a config first, then
    replaced atomically, so the file is the old one or the new one, never a part of it."""
    if path.exists():
        if not force:
            raise MatnetError(f"{path} exists: add --force to set its lr key (its other keys are kept)")
        values = read_toml(path)
        values["lr"] = lr
        text = tomli_w.dumps(values)
        verb = "updated lr in"
    else:
        config.lr = lr
        values = parse_toml(config_toml(config), "the settings")
        values.pop("out", None)
        text = tomli_w.dumps(values)
        verb = "wrote"
    TrainConfig.from_dict(parse_toml(text, str(path)), str(path))   # what is written is a valid config
    write_text(path, text)
    return verb


@click.command("lr-find", params=[p for p in train.params if p.name not in _NOT_SHARED])
@click.option("--steps", type=click.IntRange(min=10), default=300, show_default=True,
              help="Steps of the test (the rate grows from 1e-6 to 10 over them, or until the loss diverges).")
@click.option("--plot", "plot", type=click.Path(dir_okay=False),
              help="Where to draw the smoothed loss against the rate (default: runs/lr-find.png, or lr-find-2.png, "
                   "... the first free name; a file you name is replaced only with --force).")
@click.option("--apply", "apply", type=click.Path(dir_okay=False), metavar="FILE.toml",
              help="Write the suggestion into a config file: a new one gets the whole config; an existing one "
                   "only its lr key (with --force).")
@click.option("--force", is_flag=True, help="Replace an existing --plot file, or update an existing --apply file.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def lr_find(ctx, config_file, preset, steps, plot, apply, force, as_json, **options):
    """Find a learning rate: the range test (Smith 2017) on the network `matnet train` would build.

    The rate grows exponentially from 1e-6 over --steps mini-batches until the smoothed loss exceeds 4x its best;
    the suggestion is a tenth of the rate at the minimum (SGD, momentum) or the rate of steepest descent (Adam).
    The smoothed loss lags the batch loss (~49 steps), so its minimum sits where the batch loss already rises;
    the rules allow for that (correcting the lag was measured to train worse), and the plot says it.
    """
    given = given_options(ctx, options)
    plot_path = named_output(plot, force=force) if plot else None   # a default name is chosen once there is a plot
    if apply and Path(apply).exists() and not force:
        raise MatnetError(f"{apply} exists: add --force to set its lr key (its other keys are kept)")
    config = new_config(config_file, preset, given)
    _, splits, model = prepare_run(config, progress=not as_json)
    optimizer = make_optimizer(config.optimizer, config.lr, config.weight_decay, config.momentum)
    result = range_test(model, optimizer, splits.x_train, splits.y_train, steps=steps, batch_size=config.batch_size,
                        seed=config.seed)
    reserved = plot_path is None
    plot_path = plot_path or default_output("lr-find.png")
    try:
        plot_lr_find(result, plot_path)
    except BaseException:
        if reserved:
            unreserve(plot_path)
        raise
    verb = _apply(Path(apply), config, result.suggestion, force) if apply else None
    if as_json:
        echo_json({"suggestion": result.suggestion, "minimum": result.minimum, "steepest": result.steepest,
                   "lag": result.lag, "optimizer": config.optimizer, "steps": len(result.lrs),
                   "stopped": result.stopped,
                   "plot": str(plot_path), "applied": apply, "warning": result.warning})
        return
    echo(f"suggested learning rate: {result.suggestion:.3g}  ({config.optimizer}; smoothed loss lowest at "
         f"{result.minimum:.3g}, lagging the batch loss by {result.lag:.0f} steps; steepest at "
         f"{result.steepest:.3g}; {len(result.lrs)} steps, {result.stopped})")
    echo(f"plot: {plot_path}")
    if result.warning:
        echo(f"warning: {result.warning}", err=True)
    if apply:
        echo(f"{verb} {apply}: lr = {result.suggestion:.3g}")
