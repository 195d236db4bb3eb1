"""Text for a terminal: what a file says (a class name, a layer name, a dataset's name) shown, never obeyed.

Names come from files anyone can write. On a terminal a control character acts: ESC starts an escape sequence
(colours, cursor moves, a new window title), CR returns to the start of the line and overwrites it, LF starts a
line that looks like matnet's own, NUL and BEL do their own things; a bidi control (U+202E, right-to-left
override, and its kin) reverses how what follows reads. ``shown`` writes each of them out instead, as ``\\x1b``,
``\\r``-style escapes: every control character (Unicode category Cc) and every bidi control. Click already strips
colour sequences when output is not a terminal; this is the one owner of the rest, for every line the command
line prints (``matnet.cli.common.echo``) and every name in a multi-line table (``Network.summary_text``).
JSON output needs nothing: ``json.dumps`` escapes all of these.
"""

from __future__ import annotations

import re

__all__ = ["shown", "BIDI_CONTROLS"]

BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{BIDI_CONTROLS}]")       # Cc is exactly U+0000-001F and U+007F-009F
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x00": "\\0"}


def _escape(match: re.Match) -> str:
    c = match.group()
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def shown(text) -> str:
    """``str(text)`` with every control character and bidi control written out as an escape (``\\n``,
    ``\\x1b``, ``\\u202e``), so that it prints as exactly one inert piece of a line."""
    return _UNSAFE.sub(_escape, str(text))
