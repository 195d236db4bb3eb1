"""The IDX format of the MNIST files: a header, then one array of big-endian numbers.

    bytes 0-1   0x00 0x00
    byte  2     type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions, d
    then        d sizes, each a big-endian uint32
    then        prod(sizes) values, big-endian, row-major

Files may be gzip-compressed (``.gz``); the parser looks at the bytes, not the name. A file is read no further
than its header promises, and never past ``MAX_IDX_BYTES``.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from matnet.errors import MatnetError
from matnet.fileio import open_regular

__all__ = ["IdxError", "parse_idx", "read_idx", "read_idx_bytes", "idx_bytes", "write_idx", "IDX_TYPES",
           "MAX_IDX_BYTES"]

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# The most one IDX file's values may take, uncompressed: MNIST's largest file holds 47 MB, so this admits datasets
# ten times its size, and refuses a header (or a gzip bomb) that would make matnet read gigabytes.
MAX_IDX_BYTES = 512 * 2**20
_CODES = {np.dtype(v).newbyteorder("=").str.lstrip("<>|="): k for k, v in IDX_TYPES.items()}


class IdxError(MatnetError):
    """A file that is not a well-formed IDX file; the message says what is wrong and where."""


def _header(raw: bytes, source: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, header length) from the first bytes of an IDX file; ``raw`` may hold more than the header."""
    if len(raw) < 4:
        raise IdxError(f"{source}: too short to be an IDX file ({len(raw)} bytes)")
    zero, code, ndim = raw[:2], raw[2], raw[3]
    if zero != b"\x00\x00" or code not in IDX_TYPES:
        raise IdxError(f"{source}: not an IDX file (magic number 0x{raw[:4].hex()}, expected 0x0000 followed by "
                       f"a type code among {', '.join(f'{c:02x}' for c in IDX_TYPES)} and the number of dimensions)")
    if ndim == 0:
        raise IdxError(f"{source}: the header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IdxError(f"{source}: truncated header ({len(raw)} bytes, {ndim} dimensions need {header})")
    return struct.unpack(f">{ndim}I", raw[4:header]), np.dtype(IDX_TYPES[code]), header


def _shape(shape) -> str:
    return "x".join(map(str, shape))


def parse_idx(raw: bytes, source: str = "IDX data") -> np.ndarray:
    """The array stored in ``raw`` (uncompressed IDX bytes), in native byte order."""
    shape, dtype, header = _header(raw, source)
    expected = math.prod(shape) * dtype.itemsize
    actual = len(raw) - header
    if actual < expected:
        raise IdxError(f"{source}: truncated: the header says {_shape(shape)} values "
                       f"({expected} bytes) but only {actual} bytes follow")
    if actual > expected:
        raise IdxError(f"{source}: wrong size: {actual - expected} unexpected bytes after the "
                       f"{_shape(shape)} values the header declares")
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # a native-order copy we own (frombuffer is read-only)


def _read(stream, n: int) -> bytes:
    """Up to ``n`` bytes, fewer only at the end of the data (a gzip stream's read may return less)."""
    parts, left = [], n
    while left > 0:
        part = stream.read(min(left, 1 << 24))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def read_idx_bytes(path: str | Path, limit: int | None = None) -> bytes:
    """The uncompressed IDX bytes of a file, gzip-compressed or not, read no further than the header promises.

    The header comes first: the size it declares (dims x item size) is refused over ``limit`` (default
    ``MAX_IDX_BYTES``) before anything more is read; then exactly that many bytes are read, and one more to see
    whether the file holds more (an error, as is less). A gzip bomb therefore costs at most the declared size.
    """
    path = Path(path)
    limit = MAX_IDX_BYTES if limit is None else limit
    gz = False
    try:
        with open_regular(path) as file:
            gz = file.read(2) == b"\x1f\x8b"
            file.seek(0)
            with (gzip.GzipFile(fileobj=file, mode="rb") if gz else file) as stream:
                raw = _read(stream, 4)
                if len(raw) == 4 and raw[:2] == b"\x00\x00":
                    raw += _read(stream, 4 * raw[3])
                shape, dtype, header = _header(raw, str(path))
                size = math.prod(shape) * dtype.itemsize
                if size > limit:
                    raise IdxError(f"{path}: the header declares {_shape(shape)} values of {dtype.itemsize} "
                                   f"byte(s) ({size:,} bytes), more than the {limit:,}-byte limit on one IDX file")
                raw += _read(stream, size + 1)
    except FileNotFoundError as err:
        raise IdxError(f"{path}: cannot read ({err.strerror or err})") from None
    except (OSError, EOFError, zlib.error) as err:
        if gz:
            raise IdxError(f"{path}: broken gzip data ({err})") from None
        raise IdxError(f"{path}: cannot read ({getattr(err, 'strerror', None) or err})") from None
    if len(raw) > header + size:
        raise IdxError(f"{path}: wrong size: more bytes follow the {_shape(shape)} values the header declares "
                       f"({size:,} bytes)")
    return raw


def read_idx(path: str | Path, limit: int | None = None) -> np.ndarray:
    """Parse an IDX file (``.gz`` or raw), at most ``limit`` bytes of values (default ``MAX_IDX_BYTES``)."""
    return parse_idx(read_idx_bytes(path, limit), str(path))


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array`` (the inverse of parse_idx)."""
    array = np.asarray(array)
    key = array.dtype.newbyteorder("=").str.lstrip("<>|=")
    if key not in _CODES:
        raise ValueError(f"IDX cannot store dtype {array.dtype}")
    code = _CODES[key]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(IDX_TYPES[code], copy=False).tobytes()


def write_idx(array: np.ndarray, path: str | Path) -> None:
    """Write ``array`` as an IDX file, gzip-compressed if the name ends in ``.gz``."""
    data = idx_bytes(array)
    path = Path(path)
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
