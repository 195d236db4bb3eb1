"""``matnet diagnose RUN``: what went wrong in a finished run, from its files (see ``matnet.train.diagnose``)."""

from __future__ import annotations

import click

from matnet.cli.common import echo, echo_json
from matnet.runfolder import read_run
from matnet.train.diagnose import diagnose_run, format_finding


@click.command()
@click.argument("run", metavar="RUN", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the findings as a JSON list.")
def diagnose(run, as_json):
    """Say what went wrong in the run in folder RUN, with the evidence and the flag to change.

    The findings recorded while it trained (NaN loss, inputs, labels, ...) and the checks of its metrics and
    layer statistics (gradients, dead ReLUs, over- and underfitting). A healthy run: "no problems found".
    """
    data = read_run(run)
    findings = diagnose_run(data)
    if as_json:
        echo_json(findings)
        return
    for finding in findings:
        echo(format_finding(finding), lines=True)
    # what could not be checked (the predictions are not needed here)
    missing = [what for what in data.missing if not what.startswith("the test predictions")]
    if not findings:
        held = f" in what the folder holds; missing: {'; '.join(missing)}" if missing else ""
        echo("no problems found" + held)
