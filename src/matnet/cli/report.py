"""``matnet report`` and ``matnet compare``: a run's page of figures, and runs side by side."""

from __future__ import annotations

from pathlib import Path

import click

from matnet.cli.common import echo, echo_json
from matnet.fileio import default_output, named_output, unreserve
from matnet.reports.compare import compare_runs, settings_text
from matnet.reports.report import write_report


@click.command()
@click.argument("run", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def report(run, as_json):
    """Draw RUN's figures and write RUN/report.html, one self-contained page (also done after training)."""
    result = write_report(run, progress=not as_json)
    if as_json:
        echo_json({"report": str(result.path), "figures": sorted(p.name for p in result.figures),
                   "missing": result.missing})
        return
    echo(f"report: {result.path}")
    if result.missing:
        echo(f"missing from the run folder: {'; '.join(result.missing)}")


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path())
@click.option("--out", type=click.Path(dir_okay=False),
              help="Where to write the figure of overlaid learning curves (default: runs/compare.png, or "
                   "compare-2.png, ... the first free name; a file you name is replaced only with --force).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Also write the comparison as a page.")
@click.option("--force", is_flag=True, help="Replace an existing --out or --html file.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def compare(runs, out, html_path, force, as_json):
    """Overlay the learning curves of RUNS in one figure and print their final figures side by side."""
    if html_path and out and Path(html_path).resolve() == Path(out).resolve():
        raise click.UsageError(f"--out and --html both name {out}: the page would replace the figure")
    if html_path:
        html_path = str(named_output(html_path, force=force))
    reserved = not out
    out = str(named_output(out, force=force) if out else default_output("compare.png"))
    try:
        table = compare_runs(runs, out, html_path)
    except BaseException:
        if reserved:
            unreserve(out)
        raise
    if as_json:
        echo_json({"figure": out, "html": html_path, "runs": table})
        return
    width = max(len(row["run"]) for row in table)
    echo(f"{'run':<{width}}  test acc   test loss  epochs  seconds" + ("  settings that differ" if
                                                                           table[0]["settings"] else ""))
    for row in table:
        acc = f"{100 * row['test_accuracy']:.2f}%" if row["test_accuracy"] is not None else "-"
        loss = f"{row['test_loss']:.4f}" if row["test_loss"] is not None else "-"
        seconds = f"{row['train_seconds']:.1f}" if row["train_seconds"] is not None else "-"
        echo(f"{row['run']:<{width}}  {acc:>8}  {loss:>10}  {str(row['epochs'] or '-'):>6}  {seconds:>7}"
             + (f"  {settings_text(row['settings'])}" if row["settings"] else ""))
    echo(f"figure: {out}" + (f"  page: {html_path}" if html_path else ""))
