"""The ``matnet`` command. Errors are one line on stderr and a non-zero exit, never a traceback (``--debug``
shows it): exit 2 for a bad flag or value, 1 for anything else that went wrong."""

from __future__ import annotations

import sys

import click

from matnet.cli.data import data
from matnet.cli.evaluate import evaluate
from matnet.cli.gradcheck import gradcheck
from matnet.cli.info import info
from matnet.cli.predict import predict
from matnet.cli.report import compare, report
from matnet.cli.train import train
from matnet.errors import MatnetError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="matnet")
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
def cli(debug):
    """matnet: neural networks from scratch as matrix operations.

    \b
    matnet data fetch mnist      get and verify a dataset
    matnet train --out runs/x    train the default 784-128-64-10 network
    matnet evaluate runs/x       test accuracy, loss, confusion matrix
    matnet predict runs/x a.png  classify your own images
    matnet info runs/x           architecture, training config, final figures
    matnet report runs/x         figures and a one-page report (runs/x/report.html)
    matnet compare runs/a runs/b learning curves overlaid, final figures side by side
    matnet gradcheck             check every backward pass against finite differences
    """


for command in (data, train, evaluate, predict, info, report, compare, gradcheck):
    cli.add_command(command)


def _error(message: str, code: int) -> int:
    click.echo(f"matnet: error: {message}", err=True)
    return code


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    try:
        result = cli.main(args=args, prog_name="matnet", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except click.exceptions.NoArgsIsHelpError as err:
        click.echo(err.ctx.get_help())
        return 0
    except click.UsageError as err:
        where = err.ctx.command_path if err.ctx else "matnet"
        return _error(f"{err.format_message()} (see '{where} --help')", 2)
    except click.ClickException as err:
        return _error(err.format_message(), err.exit_code)
    except (click.Abort, KeyboardInterrupt):
        click.echo("matnet: interrupted", err=True)
        return 130
    except (MatnetError, ValueError) as err:
        if debug:
            raise
        return _error(str(err), 1)
    except Exception as err:  # a bug: still one line, with the way to see more
        if debug:
            raise
        return _error(f"internal error: {type(err).__name__}: {err} (rerun with --debug for the traceback)", 1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
