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

import re

__all__ = ["shown", "BIDI_CONTROLS", "UNSAFE_CATEGORIES"]

BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
UNSAFE_CATEGORIES = ("Cc", "Cf", "Zl", "Zp", "Cs")
# The code points of those categories (Unicode 14, Python 3.11; 13439-1343F are Cf from Unicode 15 on), as ranges:
# a regex over them is as fast as the Cc-only one was, where unicodedata.category per character would not be (and
# building the class from all 1.1 million code points at import takes a third of a second). Cc is exactly
# U+0000-001F and U+007F-009F; tests/test_terminal.py checks the rest against unicodedata.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
                     "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ud800-\udfff\ufeff\ufff9-\ufffb"
                     "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
                     "\U000e0000-\U000e007f]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x00": "\\0"}


def _escape(match: re.Match) -> str:
    c = match.group()
    code = ord(c)
    return _NAMED.get(c) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
                             else f"\\U{code:08x}")


def shown(text) -> str:
    """``str(text)`` with every control, format (bidi controls, zero-width, BOM, tags) and separator character
    written out as an escape (``\\n``, ``\\x1b``, ``\\u202e``, ``\\U000e0041``), so that it prints as exactly one
    inert piece of a line."""
    return _UNSAFE.sub(_escape, str(text))
