"""MkDocs hooks for matnet's reference (``hooks:`` in mkdocs.yml), run on every build, so nothing here goes stale.

- ``cli.md``: the marker line ``<!-- matnet-cli-help -->`` is replaced by the real ``--help`` text of ``matnet`` and
  of every command and subcommand under it, in the order ``matnet --help`` lists them.
- ``readme.md``: the repository's README.md, read at build time, so the site links to the README without a copy;
  its links into ``docs/`` (``docs/benchmarks.md``, relative to the repository root) are made relative to the site.
- The folder of the API pages is titled "API reference" in the navigation, its pages in module order.
"""

from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

CLI_MARKER = "<!-- matnet-cli-help -->"
HELP_WIDTH = 100  # fixed, so the page does not depend on the terminal that ran the build
README = Path(__file__).resolve().parents[2] / "README.md"


def walk_commands(command: click.Command, path: tuple[str, ...] = ()):
    """``(path, command)`` for ``command`` and, depth first, every visible command under it."""
    yield path, command
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=path[-1] if path else "matnet")
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from walk_commands(sub, (*path, name))


def help_text(cli: click.Group, path: tuple[str, ...]) -> str:
    """What ``matnet PATH --help`` prints, at ``HELP_WIDTH`` columns."""
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="matnet", terminal_width=HELP_WIDTH)
    if result.exit_code != 0:
        raise RuntimeError(f"'matnet {' '.join(path)} --help' exited with {result.exit_code}: {result.output}")
    return result.output.rstrip()


def cli_reference() -> str:
    from matnet.cli.main import cli

    sections = []
    for path, command in walk_commands(cli):
        name = " ".join(("matnet", *path))
        summary = command.get_short_help_str(limit=200)
        sections.append(f"## `{name}`\n\n{summary}\n\n```text\n{help_text(cli, path)}\n```\n")
    return "\n".join(sections)


def on_files(files, config):
    from mkdocs.structure.files import File

    readme = README.read_text(encoding="utf-8").replace("](docs/", "](")   # the page lives in docs/ itself
    content = "---\ntitle: README\n---\n\n" + readme
    files.append(File.generated(config, "readme.md", content=content))
    return files


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri == "cli.md":
        if CLI_MARKER not in markdown:
            raise RuntimeError(f"docs/cli.md lost its marker line {CLI_MARKER}")
        return markdown.replace(CLI_MARKER, cli_reference())
    return markdown


def on_nav(nav, config, files):
    for item in nav.items:
        if item.is_section and item.title.lower() == "api":
            item.title = "API reference"
            # by module, a package before its modules (file names alone sort matnet.nn.md after matnet.nn.x.md)
            item.children.sort(key=lambda page: Path(page.file.src_uri).stem.split("."))
    return nav
