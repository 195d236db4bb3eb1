"""``matnet gradcheck``: every layer and loss against central finite differences in float64."""

from __future__ import annotations

import math
import sys

import click
import numpy as np
from tqdm.auto import tqdm

from matnet.backend import xp
from matnet.cli.common import DEVICE_OPTION, echo, echo_json, open_model
from matnet.data.datasets import load_dataset
from matnet.data.prepare import model_inputs
from matnet.nn.gradcheck import KINKS, TOLERANCE, CheckResult, check_network, standard_checks
from matnet.nn.losses import model_loss


def check_trained(path: str, batch: int, samples: int, seed: int) -> list[CheckResult]:
    """The user's trained network, in float64, on ``batch`` real test images of the dataset it learned, under the
    loss it was trained with (its model file's).

    The images get a little noise (std 0.01): their flat backgrounds make exact ties in max-pooling windows and
    exact zeros before ReLUs, kinks where no derivative exists for finite differences to compare with.
    """
    net = open_model(path)
    data = load_dataset(net.preprocessing.get("dataset", "mnist"), progress=False)
    x = model_inputs(data.test_images[:batch], net.input_shape, np.float64)
    x = x + xp.asarray(np.random.default_rng(seed).normal(0.0, 0.01, x.shape))
    y = xp.asarray(data.test_labels[:batch], dtype=xp.int64)
    arrays = len(net.parameters.names) + 1
    echo(f"checking {arrays - 1} parameter arrays and dL/dx of {path} on {batch} test images, {samples} "
               f"entries each...", err=True)
    with tqdm(total=arrays, desc="gradcheck", unit="array", leave=False, file=sys.stderr, disable=None) as bar:
        errors = check_network(net.astype(np.float64), x, y, model_loss(net), samples=samples, seed=seed,
                               trained=True, progress=lambda name: (bar.set_postfix_str(name), bar.update(1)))
    kinks = errors.pop(KINKS)
    if kinks:
        echo(f"({kinks} sampled entries skipped: a ReLU or max-pooling kink lies within the step, where no "
                   "derivative exists)", err=True)
    return [CheckResult(name, {name: error}) for name, error in errors.items()]


@click.command()
@DEVICE_OPTION
@click.argument("model", metavar="[MODEL_OR_RUN]", required=False, type=click.Path())
@click.option("--seed", default=0, show_default=True, help="Seed of the random inputs (and sampled entries).")
@click.option("--batch", default=8, show_default=True, type=click.IntRange(min=1),
              help="With a model: real test images in the batch.")
@click.option("--samples", default=20, show_default=True, type=click.IntRange(min=1),
              help="With a model: entries checked per parameter array.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def gradcheck(model, seed, batch, samples, as_json):
    """Check every backward pass against central differences in float64; exit 1 if any error reaches 1e-6, or
    if a check compared nothing (every sampled entry at a kink) or met NaN or infinity.

    Without MODEL_OR_RUN: every layer and loss, and a small network, on random inputs. With it: your trained
    network on a batch of real test images (a sample of each parameter array's entries).
    """
    results = check_trained(model, batch, samples, seed) if model else standard_checks(seed)
    if as_json:
        echo_json([{"name": r.name, "worst": r.worst if math.isfinite(r.worst) else None, "passed": r.passed,
                    "errors": {k: v if math.isfinite(v) else None for k, v in r.errors.items()},
                    "problems": r.problems} for r in results])
    else:
        width = max(len(r.name) for r in results)
        echo(f"{'array' if model else 'layer / loss':<{width}}  worst rel. error  "
                   f"(pass < {TOLERANCE:.0e}, float64)")
        for r in results:
            verdict = "ok" if r.passed else "FAIL" + (f": {'; '.join(r.problems)}" if r.problems else "")
            worst = f"{r.worst:.2e}" if math.isfinite(r.worst) else "-"
            echo(f"{r.name:<{width}}  {worst:<16} {verdict}")
    failed = [r for r in results if not r.passed]
    if failed:
        why = [f"{r.name} ({'; '.join(p.removeprefix(f'{r.name}: ') for p in r.problems)})" if r.problems else r.name
               for r in failed]
        raise click.ClickException(f"gradient check failed for {', '.join(why)}")
