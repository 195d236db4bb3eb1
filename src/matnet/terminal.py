"""Text for a terminal: what a file says (a class name, a layer name, a dataset's name) shown, never obeyed.

Names come from files anyone can write. On a terminal a control character acts: ESC starts an escape sequence
(colours, cursor moves, a new window title), CR returns to the start of the line and overwrites it, LF starts a
line that looks like matnet's own, NUL and BEL do their own things; a bidi control (U+202E, right-to-left
override, and its kin) reverses how what follows reads; a line or paragraph separator (U+2028, U+2029) breaks the
line in some terminals and editors; an invisible format character (a zero-width space U+200B, a BOM U+FEFF, the
invisible operators U+2060-2064, the tag characters U+E0000-E007F) makes two names that read alike differ, or
carries text no one sees. ``shown`` writes each of them out instead, as ``\\x1b``, ``\\r``-style escapes: every
character of the Unicode categories Cc (controls), Cf (format characters: the bidi controls among them), Zl and
Zp (separators), and Cs (a lone surrogate, which a UTF-8 terminal cannot even be sent). Click already strips
colour sequences when output is not a terminal; this is the one owner of the rest, for every line the command
line prints (``matnet.cli.common.echo``) and every name in a multi-line table (``Network.summary_text``).
JSON output needs nothing: ``json.dumps`` escapes all of these.
"""

from __future__ import annotations

import unicodedata

__all__ = ["shown", "BIDI_CONTROLS", "UNSAFE_CATEGORIES"]

BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
UNSAFE_CATEGORIES = ("Cc", "Cf", "Zl", "Zp", "Cs")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x00": "\\0"}


def _escape(c: str) -> str:
    code = ord(c)
    return _NAMED.get(c) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
                             else f"\\U{code:08x}")


def _unsafe(c: str) -> bool:
    # str.isprintable() is False for every unsafe character (and for some harmless ones: other spaces, private
    # use, unassigned), so the Unicode database is asked only about those
    return not c.isprintable() and unicodedata.category(c) in UNSAFE_CATEGORIES


def shown(text) -> str:
    """``str(text)`` with every control, format (bidi controls, zero-width, BOM, tags) and separator character
    written out as an escape (``\\n``, ``\\x1b``, ``\\u202e``, ``\\U000e0041``), so that it prints as exactly one
    inert piece of a line."""
    text = str(text)
    if text.isprintable():       # the usual case, in C: nothing to escape
        return text
    return "".join(_escape(c) if _unsafe(c) else c for c in text)
