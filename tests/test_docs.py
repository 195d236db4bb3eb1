"""The reference site (``make docs``): it builds with ``--strict``, has a page for every module, shows the real
``--help`` of every command, and loads nothing from the network."""

from __future__ import annotations

import html
import pkgutil
import re
import runpy
import subprocess
import sys
from pathlib import Path

import click
import pytest

import matnet
from matnet.cli.main import cli, main

ROOT = Path(__file__).resolve().parents[1]
API_DIR = ROOT / "docs" / "api"
HOOK = ROOT / "docs" / "hooks" / "matnet_docs.py"


def module_names() -> list[str]:
    """``matnet`` and every module under it, less private ones (``_x``, ``__main__``), which have no API."""
    names = (m.name for m in pkgutil.walk_packages(matnet.__path__, "matnet."))
    return ["matnet"] + sorted(n for n in names if not any(part.startswith("_") for part in n.split(".")))


def commands(group: click.Group = cli, path: tuple[str, ...] = ()):
    """``(path, command)`` for ``matnet`` and every visible command and subcommand under it."""
    yield path, group
    for name, command in sorted(group.commands.items()):
        if command.hidden:
            continue
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name), command


def words(text: str) -> str:
    """Text with its whitespace collapsed, so help wrapped at any terminal width compares equal."""
    return " ".join(text.split())


def page_text(page: Path) -> str:
    """The visible text of a built page."""
    return words(html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8"))))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs", reason="the dev extras are not installed (make dev)")
    pytest.importorskip("mkdocstrings_handlers.python", reason="the dev extras are not installed (make dev)")
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stdout}\n{build.stderr}"
    return out


def test_every_module_has_an_api_page():
    missing = [name for name in module_names() if not (API_DIR / f"{name}.md").is_file()]
    assert not missing, f"add docs/api/<module>.md with '::: <module>' for: {', '.join(missing)}"
    for name in module_names():
        assert f"::: {name}\n" in (API_DIR / f"{name}.md").read_text(encoding="utf-8"), name


def test_no_api_page_for_a_module_that_is_gone():
    stale = sorted({page.stem for page in API_DIR.glob("*.md")} - set(module_names()))
    assert not stale, f"docs/api/ has pages for modules that no longer exist: {', '.join(stale)}"


def test_site_builds_strict_with_a_page_per_module(site):
    assert (site / "index.html").is_file() and (site / "cli" / "index.html").is_file()
    for name in module_names():
        page = site / "api" / name / "index.html"
        assert page.is_file(), name
        assert name in page_text(page), name
    dense = page_text(site / "api" / "matnet.nn.dense" / "index.html")
    assert "dW = dz.T @ x" in dense and "backward(dout)" in dense  # the docstring, and a method's signature


def test_docstrings_render_as_written(site):
    # docs/hooks/plain_docstrings.py: an aligned formula block stays a block, bare math keeps its * signs
    dense = (site / "api" / "matnet.nn.dense" / "index.html").read_text(encoding="utf-8")
    assert re.search(r"<pre[^>]*>.*forward:   x: \(N, D\),", dense, re.S)
    assert "(N*H*W, C) matrix" in page_text(site / "api" / "matnet.nn.batchnorm" / "index.html")


def test_cli_page_shows_the_real_help_of_every_command(site, capsys, monkeypatch):
    # The hook renders --help at HELP_WIDTH columns; click wraps at (terminal columns - 2), and a group's list of
    # commands cuts each summary to fit, so the real command must see the same width.
    monkeypatch.setenv("COLUMNS", str(runpy.run_path(str(HOOK))["HELP_WIDTH"] + 2))
    text = page_text(site / "cli" / "index.html")
    seen = list(commands())
    assert {("data",), ("data", "fetch"), ("data", "info"), ("train",)} <= {path for path, _ in seen}
    for path, _ in seen:
        assert main([*path, "--help"]) == 0
        help_text = capsys.readouterr().out
        assert help_text.startswith("Usage: matnet"), path
        assert words(help_text) in text, f"docs/cli.md lacks the current 'matnet {' '.join(path)} --help'"
    layers = next(p for p in cli.commands["train"].params if "--layers" in getattr(p, "opts", []))
    assert words(layers.help) in text


def test_site_makes_no_network_requests(site):
    remote = re.compile(r"""^\s*(https?:)?//""", re.IGNORECASE)
    tag = re.compile(r"<(script|link|img|iframe|source|embed|object)\b[^>]*>", re.IGNORECASE)
    attr = re.compile(r"""\b(src|href|data)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
    found = []
    for page in site.rglob("*.html"):
        for match in tag.finditer(page.read_text(encoding="utf-8")):
            found += [f"{page.relative_to(site)}: {match.group(0)}" for _, url in attr.findall(match.group(0))
                      if remote.match(url)]
    css_url = re.compile(r"""(url\(|@import)\s*["']?(https?:)?//""", re.IGNORECASE)
    for sheet in site.rglob("*.css"):
        found += [f"{sheet.relative_to(site)}: {m.group(0)}" for m in css_url.finditer(sheet.read_text("utf-8"))]
    assert not found, "the site would load from the network:\n" + "\n".join(found)
