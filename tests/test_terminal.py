"""``matnet.terminal.shown``: every character that acts on a terminal, or hides, is written out as an escape."""

import sys
import time
import unicodedata

from matnet.terminal import UNSAFE_CATEGORIES, shown


def _unsafe(c: str) -> bool:
    return unicodedata.category(c) in UNSAFE_CATEGORIES


def test_the_characters_a_stranger_found_are_escaped():
    text = "a\u2028b\u2029c\u200bd\ufeffe\u2060\u2061\u2062\u2063\u2064f\U000e0041\U000e007fg\u00adh"
    assert shown(text) == ("a\\u2028b\\u2029c\\u200bd\\ufeffe\\u2060\\u2061\\u2062\\u2063\\u2064f\\U000e0041"
                           "\\U000e007fg\\xadh")
    assert shown("bidi\u202e and \u2066, CR\r, ESC\x1b[31m, lone \ud800") == \
        "bidi\\u202e and \\u2066, CR\\r, ESC\\x1b[31m, lone \\ud800"


def test_every_control_format_and_separator_character_is_escaped_and_nothing_else():
    everything = [chr(code) for code in range(sys.maxunicode + 1)]
    unsafe = [c for c in everything if _unsafe(c)]
    assert len(unsafe) > 2048 + 65 + 100                     # surrogates, Cc, and the Cf/Zl/Zp of this Unicode
    for c in unsafe:
        escaped = shown(c)
        assert escaped.startswith("\\") and escaped.isascii() and escaped.isprintable(), (hex(ord(c)), escaped)
    # letters, marks, symbols, spaces, private use: as they are (unassigned code points aside: those in the ranges
    # later Unicode versions fill with format characters, U+13439-1343F and the tags' U+E0000-E001F, are escaped)
    changed = [hex(ord(c)) for c in everything if not _unsafe(c) and unicodedata.category(c) != "Cn" and shown(c) != c]
    assert changed == []


def test_a_long_text_is_shown_quickly():
    text = "a name of ordinary letters, digits and spaces (d\u00e9j\u00e0 vu) " * 20_000   # 1 MB
    started = time.perf_counter()
    assert shown(text) == text
    assert shown(text + "\u2028") == text + "\\u2028"
    assert time.perf_counter() - started < 1.0
