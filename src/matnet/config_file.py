"""Reading a TOML config file that anyone may have written: a byte cap in front of the standard library's tomllib.

tomllib needs no help with what is malformed (one ``TOMLDecodeError``) or nested too deep (it recurses, and Python
stops it at its recursion limit: a ``RecursionError`` at once). What it cannot bound is time: a dotted key of n parts
(``a.a.a... = 1``, or a table header ``[a.a.a...]``) takes time quadratic in n. A config is under 1 kB, so the cap is
16 KiB: the worst key that fits, 8,000 parts, parses in under a second.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from matnet.errors import MatnetError
from matnet.fileio import read_regular

__all__ = ["read_toml", "parse_toml", "MAX_CONFIG_BYTES"]

MAX_CONFIG_BYTES = 16 * 1024    # a run's config.toml and the presets are under 1 kB


def parse_toml(text: str, source) -> dict:
    """TOML ``text`` parsed, if it is within MAX_CONFIG_BYTES (else, and for invalid TOML, one MatnetError line
    naming ``source``)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_CONFIG_BYTES:
        raise MatnetError(f"{source}: more than {MAX_CONFIG_BYTES:,} bytes, far more than a config takes; not "
                          f"reading it")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise MatnetError(f"{source}: invalid TOML ({str(err)[:200]})") from None
    except RecursionError:
        raise MatnetError(f"{source}: brackets nested too deep for a config; not parsing it") from None


def read_toml(path: str | Path) -> dict:
    """The TOML file ``path`` parsed (``parse_toml``); a regular file (``fileio.read_regular``) of at most
    MAX_CONFIG_BYTES, read no further than that."""
    path = Path(path)
    try:
        text = read_regular(path, MAX_CONFIG_BYTES, what="config").decode("utf-8")
    except OSError as err:
        raise MatnetError(f"{path}: cannot read ({err.strerror or err})") from None
    except UnicodeDecodeError as err:
        raise MatnetError(f"{path}: invalid TOML ({err})") from None
    return parse_toml(text, path)
