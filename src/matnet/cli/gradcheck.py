"""``matnet gradcheck``: every layer and loss against central finite differences in float64."""

from __future__ import annotations

import json

import click

from matnet.nn.gradcheck import TOLERANCE, standard_checks


@click.command()
@click.option("--seed", default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def gradcheck(ctx, seed, as_json):
    """Check every backward pass against central differences; exit 1 if any error reaches 1e-6."""
    results = standard_checks(seed)
    if as_json:
        click.echo(json.dumps([{"name": r.name, "worst": r.worst, "passed": r.passed, "errors": r.errors}
                               for r in results], indent=2))
    else:
        width = max(len(r.name) for r in results)
        click.echo(f"{'layer / loss':<{width}}  worst rel. error  (pass < {TOLERANCE:.0e}, float64)")
        for r in results:
            click.echo(f"{r.name:<{width}}  {r.worst:.2e}         {'ok' if r.passed else 'FAIL'}")
    failed = [r.name for r in results if not r.passed]
    if failed:
        raise click.ClickException(f"gradient check failed for {', '.join(failed)}")
