"""``matnet train``: build, train, evaluate and save a network; the run folder keeps everything."""

from __future__ import annotations

import click

from matnet.nn.activations import ACTIVATIONS
from matnet.optim.optimizers import OPTIMIZERS
from matnet.optim.schedules import SCHEDULES
from matnet.run import TrainConfig, train_run

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


POSITIVE_FLOAT = click.FloatRange(min=0, min_open=True)


@click.command()
@_option("--layers", "layers", IntList(), "Layer sizes, input first, classes last.")
@_option("--activation", "activation", click.Choice(list(ACTIVATIONS)), "Hidden-layer activation.")
@_option("--dropout", "dropout", click.FloatRange(0, 1, max_open=True), "Dropout after each hidden layer.")
@_option("--optimizer", "optimizer", click.Choice(list(OPTIMIZERS)), "Optimizer.")
@_option("--lr", "lr", POSITIVE_FLOAT, "Peak learning rate.")
@_option("--momentum", "momentum", click.FloatRange(0, 1, max_open=True), "Momentum (momentum, nesterov).")
@_option("--schedule", "schedule", click.Choice(SCHEDULES), "Learning-rate schedule.")
@_option("--warmup", "warmup", click.FloatRange(min=0), "Epochs of linear learning-rate warm-up.")
@_option("--weight-decay", "weight_decay", click.FloatRange(min=0), "L2 weight decay (decoupled for adamw).")
@_option("--clip-norm", "clip_norm", click.FloatRange(min=0), "Clip the gradient's global norm (0: off).")
@_option("--patience", "patience", click.IntRange(min=0), "Early stopping after N epochs without a better "
         "validation loss, restoring the best weights (0: off).")
@_option("--batch-size", "batch_size", click.IntRange(min=1), "Mini-batch size.")
@_option("--epochs", "epochs", click.IntRange(min=1), "Passes over the training set.")
@_option("--seed", "seed", click.IntRange(min=0), "Seed for weights, dropout and batch order.")
@_option("--dataset", "dataset", str, "mnist, fashion-mnist, or a dataset you fetched with --idx-dir.")
@_option("--subset", "subset", click.IntRange(min=0), "Use only the first N training images (0: all).")
@_option("--val-size", "val_size", click.IntRange(min=0), "Training images held out for validation.")
@_option("--out", "out", click.Path(file_okay=False), "Run folder to write.")
def train(**options):
    """Train a network on a dataset, evaluate it on the test set and write the run folder."""
    config = TrainConfig(**options)
    click.echo(f"training {','.join(map(str, config.layers))} ({config.activation}) on {config.dataset} "
               f"with {config.optimizer}, lr {config.lr:g} ({config.schedule}), {config.epochs} epochs")
    summary = train_run(config)
    click.echo(f"test accuracy {100 * summary['test_accuracy']:.2f}%  test loss {summary['test_loss']:.4f}  "
               f"({summary['train_seconds']:.1f}s training) -> {config.out}")
