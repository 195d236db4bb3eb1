"""The ``matnet`` command. Errors are one line on stderr and a non-zero exit, never a traceback (``--debug``,
anywhere on the command line, shows it): exit 2 for a bad flag or value, 1 for anything else that went wrong.
With ``--json``, an error is also printed to stdout as ``{"error": "..."}``, so a script always gets JSON."""

from __future__ import annotations

import errno
import json
import sys

import click

from matnet.cli.common import echo
from matnet.cli.data import data
from matnet.cli.diagnose import diagnose
from matnet.cli.evaluate import evaluate
from matnet.cli.export import export
from matnet.cli.gradcheck import gradcheck
from matnet.cli.info import info
from matnet.cli.lr_find import lr_find
from matnet.cli.predict import predict
from matnet.cli.report import compare, report
from matnet.cli.serve import serve
from matnet.cli.train import train
from matnet.errors import MatnetError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(None, "-V", "--version", package_name="matnet")
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
def cli(debug):
    """matnet: neural networks from scratch as matrix operations.

    \b
    matnet data fetch mnist      get and verify a dataset
    matnet train --out runs/x    train the default 784-128-64-10 network
    matnet lr-find               the learning-rate range test: a suggested --lr
    matnet evaluate runs/x       test accuracy, loss, confusion matrix
    matnet predict runs/x a.png  classify your own images
    matnet info runs/x           architecture, training config, final figures
    matnet diagnose runs/x       what went wrong in a run, and the flag to change
    matnet report runs/x         figures and a one-page report (runs/x/report.html)
    matnet compare runs/a runs/b learning curves overlaid, final figures side by side
    matnet gradcheck             check every backward pass against finite differences
    matnet export runs/x ...     ONNX (--format onnx -o m.onnx) or C99 source (--format c -o DIR/)
    matnet serve runs/x          a page to draw digits and watch the matrices work, and a JSON API
    """


for command in (data, train, lr_find, evaluate, predict, info, report, compare, gradcheck, export, serve,
                diagnose):
    cli.add_command(command)


def os_error_message(err: OSError) -> str:
    """``PATH: what went wrong`` in words, e.g. ``runs/x: permission denied`` or ``runs/x: the disk is full``."""
    words = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
             errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
             errno.EPERM: "permission denied", errno.ENOTDIR: "a file stands where a folder should be",
             errno.EEXIST: "already exists", errno.EISDIR: "is a folder, not a file",
             errno.ENOENT: "no such file or folder"}
    what = words.get(err.errno, (err.strerror or str(err)).lower())
    where = err.filename if err.filename is not None else "matnet"
    return f"{where}: {what}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    as_json = "--json" in args
    if debug:  # accepted anywhere, not only before the command
        args = ["--debug"] + [arg for arg in args if arg != "--debug"]

    def _error(message: str, code: int) -> int:
        echo(f"matnet: error: {message}", err=True)
        if as_json:
            click.echo(json.dumps({"error": message, "exit_code": code}))   # JSON escapes them
        return code

    try:
        result = cli.main(args=args, prog_name="matnet", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except click.exceptions.NoArgsIsHelpError as err:
        echo(err.ctx.get_help(), lines=True)
        return 0
    except click.UsageError as err:
        where = err.ctx.command_path if err.ctx else "matnet"
        return _error(f"{err.format_message()} (see '{where} --help')", 2)
    except click.ClickException as err:
        return _error(err.format_message(), err.exit_code)
    except (click.Abort, KeyboardInterrupt):
        echo("matnet: interrupted", err=True)
        return 130
    except (MatnetError, ValueError) as err:
        if debug:
            raise
        return _error(str(err), getattr(err, "exit_code", 1))   # 2 for a SettingError: a bad flag or value
    except OSError as err:  # a read-only folder, a full disk, a file where a folder should be
        if debug:
            raise
        return _error(os_error_message(err), 1)
    except Exception as err:  # a bug: still one line, with the way to see more
        if debug:
            raise
        return _error(f"internal error: {type(err).__name__}: {err} (rerun with --debug for the traceback)", 1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
