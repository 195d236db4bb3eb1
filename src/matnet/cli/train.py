"""``matnet train``: build, train, evaluate and save a network; the run folder keeps everything."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from matnet.cli.common import DEVICE_OPTION, echo, echo_json, given_options, new_config
from matnet.config import PRESETS, TrainConfig, load_config
from matnet.errors import MatnetError
from matnet.architectures import ARCHITECTURES
from matnet.nn.activations import ACTIVATIONS
from matnet.nn.init import INITIALIZERS
from matnet.nn.losses import LOSSES, OUTPUTS
from matnet.optim.optimizers import OPTIMIZERS
from matnet.optim.schedules import SCHEDULES
from matnet.reports.report import write_report
from matnet.run import train_run
from matnet.runfolder import RunFolder
from matnet.train.trainer import TrainingInterrupted

DEFAULTS = TrainConfig()


class IntList(click.ParamType):
    name = "N,N,..."

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        try:
            sizes = [int(part) for part in str(value).split(",")]
        except ValueError:
            sizes = []
        if len(sizes) < 2 or min(sizes) < 1:
            self.fail(f"{value!r} is not a comma-separated list of two or more positive integers", param, ctx)
        return sizes


def _option(flag, key, kind, help, **extra):
    return click.option(flag, key, type=kind, default=getattr(DEFAULTS, key), show_default=True, help=help, **extra)


def _choices(names) -> str:
    """The metavar of an option whose values a constructor checks (the command line only parses them)."""
    return "[" + "|".join(names) + "]"


def _architecture(config: TrainConfig) -> str:
    """The network in a few words, e.g. ``784,128,64,10 (relu)`` or ``cnn (filters 32,64, dense 128)``."""
    head = "" if (config.loss, config.output) == ("cross-entropy", "softmax") else \
        f", {config.output} output, {config.loss}"
    if config.model == "mlp":
        return f"{','.join(map(str, config.layers))} ({config.activation}{head})"
    if config.model in ("cnn", "fastcnn"):
        return f"{config.model} (filters {','.join(map(str, config.filters))}, dense {config.dense}{head})"
    return f"{config.model} ({head[2:]})" if head else config.model


@click.command()
@DEVICE_OPTION
@click.option("--config", "config_file", type=click.Path(dir_okay=False), metavar="FILE.toml",
              help="Settings from a TOML file (keys as the flags, with _ for -); flags given here override it.")
@click.option("--preset", type=click.Choice(list(PRESETS)), help="Start from a preset: mlp (the default), cnn "
              "(two conv blocks, >= 99.3% on MNIST), speedrun (a fastcnn to 99% in seconds), resnet (residual "
              "blocks with BatchNorm) or nielsen (chapter 1 of Nielsen's book: sigmoid 784-100-10 under MSE, SGD, "
              "batches of 10).")
@click.option("--resume", type=click.Path(file_okay=False), metavar="RUN",
              help="Continue the run in folder RUN from its last checkpoint, exactly as if never stopped.")
@_option("--model", "model", click.Choice(ARCHITECTURES),
         "Architecture (mlp sized by --layers; cnn and fastcnn by --filters and --dense; resnet is fixed).")
@_option("--layers", "layers", IntList(), "MLP layer sizes, input first, classes last.")
@_option("--filters", "filters", IntList(),
         "cnn: channels of each conv block (each halves the image); fastcnn: of its two convolutions.")
@_option("--dense", "dense", int, "cnn, fastcnn: width of the hidden dense layer.")
@_option("--activation", "activation", click.Choice(list(ACTIVATIONS)), "Hidden-layer activation.")
@_option("--init", "init", str, "mlp: weight initialiser (auto: he_normal for ReLU-like activations, "
         "xavier_normal for tanh and sigmoid; normal: N(0, 1), as Nielsen's book).",
         metavar=_choices(("auto", *INITIALIZERS)))
@_option("--loss", "loss", str, "Loss: softmax cross-entropy, or mse, the mean of (output - one-hot)^2 over "
         "all N x classes entries (so lr = eta x classes / 2 of Nielsen's quadratic cost).", metavar=_choices(LOSSES))
@_option("--label-smoothing", "label_smoothing", float, "Cross-entropy against targets (1 - e) one-hot + e / classes "
         "while training, e in [0, 1) (the training and validation losses are then against those targets).")
@_option("--output", "output", str, "Output-layer activation: softmax (cross-entropy's), or under mse also "
         "sigmoid or linear.", metavar=_choices(OUTPUTS))
@_option("--dropout", "dropout", float, "Dropout after each hidden layer, in [0, 1).")
@_option("--optimizer", "optimizer", str, "Optimizer.", metavar=_choices(OPTIMIZERS))
@_option("--lr", "lr", float, "Peak learning rate.")
@_option("--momentum", "momentum", float, "Momentum (momentum, nesterov), in [0, 1).")
@_option("--schedule", "schedule", str, "Learning-rate schedule.", metavar=_choices(SCHEDULES))
@_option("--warmup", "warmup", float, "Epochs of linear learning-rate warm-up.")
@_option("--weight-decay", "weight_decay", float, "L2 weight decay (decoupled for adamw).")
@_option("--clip-norm", "clip_norm", float, "Clip the gradient's global norm (0: off).")
@_option("--patience", "patience", int, "Early stopping after N epochs without a better "
         "validation loss, restoring the best weights (0: off).")
@_option("--batch-size", "batch_size", int, "Mini-batch size.")
@_option("--epochs", "epochs", int, "Passes over the training set.")
@_option("--seed", "seed", int, "Seed for weights, dropout and batch order.")
@click.option("--augment/--no-augment", "augment", default=DEFAULTS.augment, show_default=True,
              help="Randomly shift (<= 2 px) and rotate (<= 10 degrees) training images.")
@click.option("--flip/--no-flip", "flip", default=DEFAULTS.flip, show_default=True,
              help="Randomly mirror training images left-right (for clothing; digits have a handedness).")
@_option("--writers", "writers", float, "Make this fraction of training images look like other writers' digits "
         "(blocky scans, slant, thick or thin strokes; 0: off).")
@_option("--dataset", "dataset", str, "mnist, fashion-mnist, or a dataset you fetched with --idx-dir.")
@_option("--subset", "subset", int, "Use only the first N training images (0: all).")
@_option("--val-size", "val_size", int, "Training images held out for validation.")
@click.option("--out", "out", type=click.Path(file_okay=False),
              help="Run folder to write (an existing run is refused without --force). Default: a new folder, "
                   "runs/mlp, runs/mlp-2, ... (runs/cnn-2 for the cnn preset, and so on).")
@click.option("--force", is_flag=True, help="Replace the run already in --out (its files only).")
@click.option("--json", "as_json", is_flag=True, help="Print the run's summary as JSON (progress goes to stderr).")
@click.pass_context
def train(ctx, config_file, preset, resume, force, as_json, **options):
    """Train a network on a dataset, evaluate it on the test set and write the run folder.

    Ctrl-C stops after the current step and saves a checkpoint; `--resume RUN` continues from it.
    """
    given = given_options(ctx, options)
    if resume:
        if given or config_file or preset or force:
            raise click.UsageError("--resume continues a run exactly as it was configured: give no other settings")
        config = _saved_config(Path(resume))
    else:
        config = new_config(config_file, preset, given)

    def announce():
        verb = "resuming" if resume else "training"
        images = f" (first {config.subset:,} training images)" if config.subset else ""
        smoothing = f", label smoothing {config.label_smoothing:g}" if config.label_smoothing else ""
        echo(f"{verb} {_architecture(config)} on {config.dataset}{images} "
                   f"with {config.optimizer}, lr {config.lr:g} ({config.schedule}){smoothing}, {config.epochs} "
                   f"epoch{'s' if config.epochs != 1 else ''} "
                   f"-> {config.out}", err=as_json)

    try:
        summary = train_run(config, resume=bool(resume), force=force, announce=announce,
                            log=sys.stderr if as_json else None)
    except TrainingInterrupted as stop:
        echo(f"interrupted in epoch {stop.epoch} after step {stop.step}; checkpoint saved: "
                   f"{RunFolder(config.out).checkpoint}", err=True)
        echo(f"resume with: matnet train --resume {shlex.quote(config.out)}", err=True)
        ctx.exit(130)
    report_path = write_report(config.out, progress=not as_json).path
    if as_json:
        echo_json({"run": config.out, "report": str(report_path), **summary})
        return
    echo(f"report: {report_path}")
    echo(f"test accuracy {100 * summary['test_accuracy']:.2f}%  test loss {summary['test_loss']:.4f}  "
               f"({summary['train_seconds']:.1f}s training) -> {config.out}")


def _saved_config(run: Path) -> TrainConfig:
    config_file = RunFolder(run).config_file
    if not config_file.is_file():
        raise MatnetError(f"{run}: not a run folder (no {config_file.name})")
    values = load_config(config_file)
    values["out"] = str(run)  # the folder may have moved since
    values.setdefault("writers", 0.0)   # a run from before other writers' digits (its file lists every setting)
    return TrainConfig.from_dict(values, str(config_file))
