"""A griffe extension (``extensions:`` in mkdocs.yml) that reads matnet's plain-text docstrings as their authors
meant them before mkdocstrings renders them as Markdown. The source is never changed.

matnet's docstrings are prose with code and math in ``double backticks``, tables and examples indented by four
spaces (already code blocks in Markdown), and a few conventions Markdown reads differently:

- column-aligned formula blocks (``forward:   x: (N, D)  ->  z: (N, M)``, with hanging indents) would be joined
  into one paragraph: they become code blocks, as they read in the source;
- a ``*`` in bare math (``(N*H*W, C)``, ``/* */``) would start emphasis: it is escaped, while ``*word*`` stays
  emphasis; a ``<`` (``numpy<2``) would start an HTML tag: it is escaped;
- a list right under a line of prose needs a blank line before it in Markdown: one is added;
- reST roles (``:mod:`x```) keep their code and lose the role; click's ``\\b`` (no-rewrap) lines are dropped.
"""

from __future__ import annotations

import re

import griffe

CODE_SPAN = re.compile(r"(`+)(?:.+?)\1", re.S)
EMPHASIS = re.compile(r"(?<![\w*])\*(?=[^\s*])[^*\n]*?(?<=[^\s*])\*(?![\w*])")
ROLE = re.compile(r":(?:mod|class|func|meth|attr|data|obj|exc):(?=`)")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+\.)\s")
WIDE_GAP = re.compile(r"\S {3,}\S")
GAP = re.compile(r"\S {2,}\S")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_formula(lines: list[str]) -> bool:
    """Column-aligned lines: a gap of 3+ spaces, or 2+ spaces with a hanging indent, and not a list."""
    if any(LIST_ITEM.match(line) for line in lines):
        return False
    hanging = len(lines) > 1 and any(_indent(line) > _indent(lines[0]) for line in lines[1:])
    return any(WIDE_GAP.search(line) for line in lines) or (hanging and any(GAP.search(line) for line in lines))


def _escape(text: str) -> str:
    """``*`` and ``<`` escaped outside code spans and ``*emphasis*``."""
    out, pos = [], 0
    protected = sorted([*CODE_SPAN.finditer(text), *EMPHASIS.finditer(text)], key=lambda m: m.start())
    for match in protected:
        if match.start() < pos:
            continue
        out += [text[pos:match.start()].replace("*", r"\*").replace("<", "&lt;"), match.group(0)]
        pos = match.end()
    out.append(text[pos:].replace("*", r"\*").replace("<", "&lt;"))
    return "".join(out)


def _prose(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if LIST_ITEM.match(line) and out and not any(LIST_ITEM.match(previous) for previous in out):
            out.append("")  # the first item of a list right under prose
        out.append(line)
    return _escape(ROLE.sub("", "\n".join(out))).split("\n")


def to_markdown(text: str) -> str:
    """A plain-text docstring as the Markdown that renders it as written."""
    blocks: list[list[str]] = [[]]
    for line in text.split("\n"):
        if line.strip() == "\b":
            continue
        if line.strip():
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    out = []
    for lines in filter(None, blocks):
        if all(_indent(line) >= 4 for line in lines):
            out.append("\n".join(lines))  # already a Markdown code block
        elif _is_formula(lines):
            out.append("\n".join("    " + line for line in lines))
        else:
            out.append("\n".join(_prose(lines)))
    return "\n\n".join(out)


class PlainDocstrings(griffe.Extension):
    """Rewrites every docstring of the loaded package with ``to_markdown``, once."""

    def __init__(self) -> None:
        super().__init__()
        self._done: set[int] = set()

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        docstring = obj.docstring
        if docstring is not None and id(docstring) not in self._done:
            self._done.add(id(docstring))
            docstring.value = to_markdown(docstring.value)
